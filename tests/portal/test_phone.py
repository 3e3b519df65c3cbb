"""Mobile numbers: signing in with an SMS code, adding and verifying a number, and how numbers
typed in mainland China are read and shown. Codes are read from the files the SMS file backend
writes (settings.SMS_FILE_PATH, a fresh folder per test)."""

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core.exceptions import ValidationError
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import reverse

from portal.models import User
from portal.phone import MobilePhoneField, mask_phone, normalise_phone
from tests.factories import PASSWORD, PhoneUserFactory, UserFactory


def signed_in_user_id(client) -> str | None:
    return client.session.get(SESSION_KEY)


# --- Signing in by phone -------------------------------------------------------------------------


@pytest.mark.django_db
def test_customer_logs_in_with_an_11_digit_number_and_the_sms_code(client, sms_code, audit_actions):
    user = PhoneUserFactory(phone="+8613800138000")

    response = client.post(reverse("account_request_login_code"), {"phone": "13800138000"})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_confirm_login_code")
    assert signed_in_user_id(client) is None

    response = client.post(
        reverse("account_confirm_login_code"), {"code": sms_code("+8613800138000")}
    )
    assert response.status_code == 302
    assert response["Location"] == resolve_url(settings.LOGIN_REDIRECT_URL)
    assert signed_in_user_id(client) == str(user.pk)
    assert audit_actions(user) == ["auth.login"]


@pytest.mark.django_db
def test_wrong_sms_code_signs_nobody_in(client, sms_code):
    PhoneUserFactory(phone="+8613800138000")
    client.post(reverse("account_request_login_code"), {"phone": "13800138000"})
    right_code = sms_code("+8613800138000")
    wrong_code = "BCDF-GHJK" if right_code != "BCDF-GHJK" else "KJHG-FDCB"

    response = client.post(reverse("account_confirm_login_code"), {"code": wrong_code})

    assert response.status_code == 200
    assert [e.code for e in response.context["form"].errors.as_data()["code"]] == ["incorrect_code"]
    assert signed_in_user_id(client) is None


@pytest.mark.django_db
def test_login_code_for_an_unknown_number_looks_the_same_and_texts_no_code(
    sms_messages, one_time_code
):
    PhoneUserFactory(phone="+8613800138000")
    known = Client().post(reverse("account_request_login_code"), {"phone": "13800138000"})

    stranger = Client()
    unknown = stranger.post(reverse("account_request_login_code"), {"phone": "13900139000"})

    assert unknown.status_code == known.status_code == 302
    assert unknown["Location"] == known["Location"]
    stranger_page = stranger.get(unknown["Location"])
    assert stranger_page.status_code == 200
    assert "code" in stranger_page.context["form"].fields
    # The number's owner may be told that nobody is registered with it, but gets no code.
    texts = sms_messages("+8613900139000")
    assert all(text["purpose"] != "verification_code" for text in texts)
    assert all(one_time_code(text["body"]) is None for text in texts)
    stranger.post(reverse("account_confirm_login_code"), {"code": "BCDF-GHJK"})
    assert signed_in_user_id(stranger) is None


# --- Adding a number -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_signed_in_customer_adds_a_number_and_verifies_it_by_sms(client, sms_code, audit_actions):
    user = UserFactory()
    client.force_login(user)

    # Changing a login method asks for the password first; the request then goes through.
    response = client.post(reverse("account_change_phone"), {"phone": "139 1234 5678"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    response = client.post(response["Location"], {"password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_verify_phone")
    user.refresh_from_db()
    assert not user.phone_verified

    response = client.post(reverse("account_verify_phone"), {"code": sms_code("+8613912345678")})
    assert response.status_code == 302

    user.refresh_from_db()
    assert (user.phone, user.phone_verified) == ("+8613912345678", True)
    assert "139****5678" in client.get(reverse("me:overview")).content.decode()
    # Recorded once, when the verified number is attached.
    assert audit_actions(user) == ["auth.login", "user.phone_changed"]


@pytest.mark.django_db
def test_a_number_used_by_someone_else_stays_theirs(client, sms_code):
    owner = PhoneUserFactory(phone="+8613800138000")
    user = UserFactory()
    client.force_login(user)
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})

    response = client.post(reverse("account_change_phone"), {"phone": "13800138000"})
    # The same answer as for a free number (no enumeration) ...
    assert response.status_code == 302
    assert response["Location"] == reverse("account_verify_phone")
    # ... and even the code sent to that number does not move it.
    client.post(reverse("account_verify_phone"), {"code": sms_code("+8613800138000")})

    user.refresh_from_db()
    owner.refresh_from_db()
    assert (owner.phone, owner.phone_verified) == ("+8613800138000", True)
    assert user.phone == ""


@pytest.mark.django_db
def test_signup_with_a_number_verifies_it_by_sms_and_then_the_email(client, sms_code, mail_code):
    response = client.post(
        reverse("account_signup"),
        {
            "name": "李娜",
            "email": "li.na@example.cn",
            "phone": "137 0013 7000",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "privacy_accepted": "on",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("account_verify_phone")
    user = User.objects.get(email="li.na@example.cn")
    assert (user.phone, user.phone_verified) == ("+8613700137000", False)

    response = client.post(reverse("account_verify_phone"), {"code": sms_code("+8613700137000")})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert signed_in_user_id(client) is None

    response = client.post(
        reverse("account_email_verification_sent"), {"code": mail_code("li.na@example.cn")}
    )
    assert response.status_code == 302
    assert signed_in_user_id(client) == str(user.pk)
    user.refresh_from_db()
    assert user.phone_verified


# --- Reading and showing numbers (portal/phone.py) -----------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "(138) 0013 8000",
        "8613800138000",
        "+8613800138000",
        "+86 138 0013 8000",
    ],
)
def test_mainland_mobile_numbers_are_stored_in_e164(typed):
    assert normalise_phone(typed) == "+8613800138000"


def test_numbers_from_other_countries_are_kept_in_e164():
    assert normalise_phone("+852 6123 4567") == "+85261234567"
    assert normalise_phone("+1 415 555 0123") == "+14155550123"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "12345",
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits
        "12800138000",  # no mobile network starts 12
        "+8601012345678",  # a Beijing landline, not a mobile
        "+86 138 0013 800",
        "phone",
        "0086 138 0013 8000",
    ],
)
def test_anything_else_is_refused_as_an_invalid_phone(typed):
    with pytest.raises(ValidationError) as refused:
        normalise_phone(typed)
    assert refused.value.code == "invalid_phone"


@pytest.mark.parametrize(
    ("phone", "shown"),
    [
        ("+8613800138000", "138****8000"),
        ("+85261234567", "+85****4567"),
        ("+86123", "****"),
    ],
)
def test_numbers_are_shown_masked(phone, shown):
    assert mask_phone(phone) == shown


def test_phone_form_field_reads_what_people_type():
    field = MobilePhoneField(required=True)

    assert field.clean(" 138 0013 8000 ") == "+8613800138000"
    with pytest.raises(ValidationError) as refused:
        field.clean("12800138000")
    assert [e.code for e in refused.value.error_list] == ["invalid_phone"]
    assert not MobilePhoneField(required=False).clean("")


@pytest.mark.django_db
def test_a_number_held_by_a_deactivated_account_cannot_be_taken_by_a_new_one(client, sms_messages):
    PhoneUserFactory(phone="+8613800138000", is_active=False)

    response = client.post(
        reverse("account_signup"),
        {
            "name": "李娜",
            "email": "li.na@example.cn",
            "phone": "13800138000",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "privacy_accepted": "on",
        },
    )

    # The usual answer (no enumeration), but no second holder of the number and no code.
    assert response.status_code == 302
    assert User.objects.filter(phone="+8613800138000").count() == 1
    assert not User.objects.filter(email="li.na@example.cn").exists()
    assert all(t["purpose"] != "verification_code" for t in sms_messages("+8613800138000"))


@pytest.mark.django_db
def test_a_deactivated_account_is_not_signed_in_by_sms_code(client, sms_code):
    PhoneUserFactory(phone="+8613800138000", is_active=False)

    response = client.post(reverse("account_request_login_code"), {"phone": "13800138000"})
    # The usual answer, so the request tells a stranger nothing ...
    assert response["Location"] == reverse("account_confirm_login_code")

    response = client.post(
        reverse("account_confirm_login_code"), {"code": sms_code("+8613800138000")}
    )
    # ... and only the holder of the phone learns that the account is deactivated.
    assert response.status_code == 302
    assert response["Location"] == reverse("account_inactive")
    assert signed_in_user_id(client) is None
