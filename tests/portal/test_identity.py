"""Signing up, verifying, signing in (password, e-mail code, TOTP) and resetting a password,
driven through allauth's pages with Django's test client: what a customer does, step by step.

Pages are found by URL name and fields by their form names; messages are compared with the
message the code itself produces (in the active language), never with copied text, so the
restyled templates and translations can change freely.
"""

import pytest
from allauth.account.adapter import get_adapter
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from bs4 import BeautifulSoup
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import reverse
from django.utils import translation

from portal.forms.identity import SignupForm
from portal.models import User
from tests.factories import PASSWORD, PhoneUserFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Teapot-Glacier-Orchard-77"


def signup_data(**overrides) -> dict:
    data = {
        "name": "张伟",
        "email": "zhang.wei@example.cn",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "privacy_accepted": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def landing_page() -> str:
    """Where a customer lands after signing in (settings.LOGIN_REDIRECT_URL)."""
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def signed_in_user_id(client) -> str | None:
    return client.session.get(SESSION_KEY)


def form_error_codes(response, field: str) -> list[str]:
    return [error.code for error in response.context["form"].errors.as_data().get(field, [])]


def page_text(response) -> str:
    return BeautifulSoup(response.content, "html.parser").get_text(" ", strip=True)


def log_out(client) -> None:
    response = client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert signed_in_user_id(client) is None


def log_in_with_password(client, email: str, password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


# --- The whole journey ---------------------------------------------------------------------------


def test_new_customer_signs_up_verifies_email_enrols_totp_and_then_needs_it_to_log_in(
    client, mail_code, totp_code, audit_actions, django_capture_on_commit_callbacks
):
    # Sign up.
    page = client.get(reverse("account_signup"))
    assert page.status_code == 200
    form = BeautifulSoup(page.content, "html.parser").find("form", action=reverse("account_signup"))
    assert {field.get("name") for field in form.find_all("input")} >= {
        "name",
        "email",
        "phone",
        "password1",
        "password2",
        "privacy_accepted",
    }
    response = client.post(reverse("account_signup"), signup_data())
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")

    user = User.objects.get(email="zhang.wei@example.cn")
    assert user.name == "张伟"
    assert user.privacy_notice_version == "2026-11"
    assert user.privacy_accepted_at is not None
    assert not EmailAddress.objects.get(user=user).verified
    assert signed_in_user_id(client) is None, "not signed in before the address is verified"

    # Verify the address with the code from the e-mail.
    response = client.post(
        reverse("account_email_verification_sent"),
        {"code": mail_code("zhang.wei@example.cn")},
    )
    assert response.status_code == 302
    assert response["Location"] == landing_page()
    assert EmailAddress.objects.get(user=user).verified
    assert signed_in_user_id(client) == str(user.pk)
    assert client.get(reverse("me:overview")).status_code == 200

    # Log out, log in again with the password.
    log_out(client)
    response = log_in_with_password(client, user.email)
    assert response.status_code == 302
    assert response["Location"] == landing_page()
    assert signed_in_user_id(client) == str(user.pk)

    # Enrol an authenticator app: allauth first asks for the password again.
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    response = client.post(response["Location"], {"password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")
    page = client.get(reverse("mfa_activate_totp"))
    secret = BeautifulSoup(page.content, "html.parser").find("input", id="authenticator_secret")
    # allauth announces the new authenticator (and so writes the audit row) on commit.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret["value"])})
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_view_recovery_codes")
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()

    # Recovery codes were made with it, and the page shows every one of them.
    recovery = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    codes = recovery.wrap().get_unused_codes()
    assert len(codes) == 10
    page = client.get(reverse("mfa_view_recovery_codes"))
    assert all(code in page.content.decode() for code in codes)

    # From now on a password alone does not sign in: the authenticator code is asked for.
    log_out(client)
    response = log_in_with_password(client, user.email)
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    assert signed_in_user_id(client) is None

    response = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert response.status_code == 200
    assert form_error_codes(response, "code") == ["incorrect_code"]
    assert signed_in_user_id(client) is None

    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret["value"])})
    assert response.status_code == 302
    assert response["Location"] == landing_page()
    assert signed_in_user_id(client) == str(user.pk)
    log_out(client)

    assert audit_actions(user) == [
        "user.signed_up",
        "user.email_verified",
        "auth.login",
        "auth.logout",
        "auth.login",
        "mfa.added",  # the authenticator app
        "mfa.added",  # the recovery codes made with it
        "auth.logout",
        "mfa.failed",
        "auth.login",
        "auth.logout",
    ]


# --- Sign-up refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "code"),
    [("Short-pw-1", "password_too_short"), ("password1234", "password_too_common")],
    ids=["too-short", "too-common"],
)
def test_signup_with_a_weak_password_is_refused_and_creates_nothing(
    client, mailoutbox, password, code
):
    response = client.post(
        reverse("account_signup"), signup_data(password1=password, password2=password)
    )

    assert response.status_code == 200
    assert code in form_error_codes(response, "password1")
    # The reason is on the page, in the customer's language.
    with translation.override("zh-hans"), pytest.raises(ValidationError) as refused:
        validate_password(password)
    for message in refused.value.messages:
        assert message in page_text(response)
    assert not User.objects.exists()
    assert not EmailAddress.objects.exists()
    assert mailoutbox == []


def test_signup_without_privacy_consent_creates_no_user(client, mailoutbox):
    response = client.post(reverse("account_signup"), signup_data(privacy_accepted=None))

    assert response.status_code == 200
    assert form_error_codes(response, "privacy_accepted") == ["required"]
    with translation.override("zh-hans"):
        expected = str(SignupForm.base_fields["privacy_accepted"].error_messages["required"])
    assert response.context["form"].errors["privacy_accepted"] == [expected]
    assert expected in page_text(response)
    assert not User.objects.exists()
    assert mailoutbox == []


def test_signup_with_an_address_already_registered_creates_no_second_account(client, mailoutbox):
    existing = UserFactory(email="zhang.wei@example.cn")

    response = client.post(reverse("account_signup"), signup_data())

    # The same answer as for a new address (no enumeration); the owner is told by e-mail.
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert list(User.objects.all()) == [existing]
    assert [m.to for m in mailoutbox] == [["zhang.wei@example.cn"]]


def test_wrong_email_verification_code_is_refused(client, mail_code):
    client.post(reverse("account_signup"), signup_data())
    right_code = mail_code("zhang.wei@example.cn")
    wrong_code = "BCDF-GHJK" if right_code != "BCDF-GHJK" else "KJHG-FDCB"

    response = client.post(reverse("account_email_verification_sent"), {"code": wrong_code})

    assert response.status_code == 200
    assert form_error_codes(response, "code") == ["incorrect_code"]
    assert not EmailAddress.objects.get(email="zhang.wei@example.cn").verified
    assert signed_in_user_id(client) is None

    # A typo costs one attempt, not the sign-up.
    response = client.post(reverse("account_email_verification_sent"), {"code": right_code})
    assert response.status_code == 302
    assert EmailAddress.objects.get(email="zhang.wei@example.cn").verified


# --- Other ways in -------------------------------------------------------------------------------


def test_customer_logs_in_with_a_code_sent_by_email(client, mail_code, audit_actions):
    user = UserFactory()

    response = client.post(reverse("account_request_login_code"), {"email": user.email})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_confirm_login_code")
    assert signed_in_user_id(client) is None

    response = client.post(reverse("account_confirm_login_code"), {"code": mail_code(user.email)})
    assert response.status_code == 302
    assert response["Location"] == landing_page()
    assert signed_in_user_id(client) == str(user.pk)
    assert audit_actions(user) == ["auth.login"]


def test_the_code_email_has_an_html_part_in_the_language_the_person_chose(
    client, mailoutbox, mail_code
):
    user = UserFactory(language="en")

    # The browser asks in Chinese; the person chose English for messages.
    client.post(
        reverse("account_request_login_code"),
        {"email": user.email},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )

    (message,) = mailoutbox
    code = mail_code(user.email)
    assert "Your sign-in code is listed below" in message.body
    ((html, mimetype),) = message.alternatives
    assert mimetype == "text/html"
    assert code in html and "Your sign-in code is listed below" in html


def test_login_code_for_an_unknown_address_looks_the_same_and_sends_no_code(
    client, mailoutbox, mail_text, one_time_code
):
    UserFactory(email="somebody@example.cn")
    known = client.post(reverse("account_request_login_code"), {"email": "somebody@example.cn"})
    client.cookies.clear()

    unknown = client.post(reverse("account_request_login_code"), {"email": "nobody@example.cn"})

    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    # allauth tells the address's owner that no account uses it; that mail holds no code.
    assert [m.to for m in mailoutbox] == [["somebody@example.cn"], ["nobody@example.cn"]]
    assert one_time_code(mail_text("nobody@example.cn")) is None
    assert not User.objects.filter(email="nobody@example.cn").exists()


def test_password_reset_by_code_replaces_the_password(client, mail_code, audit_actions):
    user = UserFactory()

    response = client.post(reverse("account_reset_password"), {"email": user.email})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_confirm_password_reset_code")

    response = client.post(
        reverse("account_confirm_password_reset_code"), {"code": mail_code(user.email)}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("account_complete_password_reset")

    response = client.post(
        reverse("account_complete_password_reset"),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302

    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert not user.check_password(PASSWORD)
    log_out(client)
    assert log_in_with_password(client, user.email, PASSWORD).status_code == 200
    assert signed_in_user_id(client) is None
    assert log_in_with_password(client, user.email, NEW_PASSWORD).status_code == 302
    assert signed_in_user_id(client) == str(user.pk)
    assert "user.password_reset" in audit_actions(user)


def test_repeated_failed_logins_are_refused_even_with_the_right_password(client, audit_actions):
    user = UserFactory()
    refused_by_rate_limit = None
    for attempt in range(1, 12):
        response = log_in_with_password(client, user.email, "Not-the-password-1")
        assert response.status_code == 200
        if "too_many_login_attempts" in form_error_codes(response, "__all__"):
            refused_by_rate_limit = attempt
            break
    # ACCOUNT_RATE_LIMITS["login_failed"] allows 5 failures per account in 5 minutes.
    assert refused_by_rate_limit == 6

    response = log_in_with_password(client, user.email, PASSWORD)
    assert response.status_code == 200
    assert form_error_codes(response, "__all__") == ["too_many_login_attempts"]
    with translation.override("zh-hans"):
        expected = str(get_adapter().error_messages["too_many_login_attempts"])
    assert expected in page_text(response)
    assert signed_in_user_id(client) is None
    # Each refused password is in the audit log (without the address: see portal/receivers.py).
    assert len(audit_actions(action="auth.login_failed")) >= 5


def _refused_as_too_many(response) -> bool:
    return "too_many_login_attempts" in form_error_codes(response, "__all__")


def test_the_failed_sign_in_limit_counts_the_account_whatever_host_name_is_asked(client):
    """The five failures allowed per account are the account's, not per host name: an attacker
    who sends each guess with another of the site's names (ALLOWED_HOSTS) gets no more."""
    user = UserFactory()
    hosts = ["testserver", "localhost", "127.0.0.1"]
    for attempt in range(5):
        response = client.post(
            reverse("account_login"),
            {"login": user.email, "password": "Not-the-password-1"},
            HTTP_HOST=hosts[attempt % len(hosts)],
        )
        assert not _refused_as_too_many(response)

    response = client.post(
        reverse("account_login"), {"login": user.email, "password": PASSWORD}, HTTP_HOST="localhost"
    )

    assert _refused_as_too_many(response)
    assert signed_in_user_id(client) is None


def test_failed_sign_ins_with_one_phone_number_are_that_numbers_alone(client):
    """Guesses at one number lock that number, however it is typed, and nobody else's."""
    target, bystander = PhoneUserFactory(), PhoneUserFactory()
    local = target.phone.removeprefix("+86")
    typed = [local, f"{local[:3]} {local[3:7]} {local[7:]}", target.phone, f"86{local}", local]
    for login in typed:
        response = log_in_with_password(client, login, "Not-the-password-1")
        assert not _refused_as_too_many(response)

    assert _refused_as_too_many(log_in_with_password(client, target.phone, PASSWORD))
    assert log_in_with_password(Client(), bystander.phone, PASSWORD).status_code == 302


# --- Language ------------------------------------------------------------------------------------


def test_pages_are_in_chinese_by_default(client):
    response = client.get(reverse("account_login"))

    assert response.status_code == 200
    assert response.headers["Content-Language"] == "zh-hans"
    assert "登录" in page_text(response)


@pytest.mark.parametrize("how", ["cookie", "accept-language"])
def test_pages_are_in_english_when_the_visitor_asks_for_it(client, settings, how):
    if how == "cookie":
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        response = client.get(reverse("account_login"))
    else:
        response = client.get(reverse("account_login"), headers={"accept-language": "en-GB,en"})

    assert response.headers["Content-Language"] == "en"
    assert "Sign In" in page_text(response)
    assert "登录" not in page_text(response)
