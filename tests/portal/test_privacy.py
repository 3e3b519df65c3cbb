"""A customer's rights over their data: download it, close the account. Both ask for the password
again (allauth reauthentication) because a left-open session must not be enough."""

import json

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from portal.models import User
from tests.factories import PASSWORD, PhoneUserFactory, totp_enrol

pytestmark = pytest.mark.django_db


def signed_in_user_id(client) -> str | None:
    return client.session.get(SESSION_KEY)


def signed_in(user) -> Client:
    """A browser where ``user`` signed in earlier (the reauthentication window has passed)."""
    client = Client()
    client.force_login(user)
    assert client.get(reverse("me:overview")).status_code == 200  # registers the session
    return client


def reauthenticate(client, response, password: str = PASSWORD):
    """Answer allauth's "enter your password again" page that ``response`` redirected to."""
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    return client.post(response["Location"], {"password": password})


# --- Download my data ----------------------------------------------------------------------------


def test_data_export_asks_for_the_password_again_before_downloading(audit_actions):
    user = PhoneUserFactory()
    client = signed_in(user)

    response = client.get(reverse("me:data_export"))
    assert response.status_code == 302
    assert "privacy.data_exported" not in audit_actions(user)

    refused = reauthenticate(client, response, password="Not-the-password-1")
    assert refused.status_code == 200
    assert "password" in refused.context["form"].errors
    assert "privacy.data_exported" not in audit_actions(user)

    response = reauthenticate(client, response)
    assert response.status_code == 302
    assert response["Location"] == reverse("me:data_export")

    download = client.get(reverse("me:data_export"))
    assert download.status_code == 200
    assert download["Content-Type"] == "application/json; charset=utf-8"
    assert download["Content-Disposition"].startswith("attachment;")
    assert "no-store" in download["Cache-Control"]
    assert download.json()["profile"]["email"] == user.email
    assert audit_actions(user)[-1] == "privacy.data_exported"


def test_data_export_holds_my_profile_and_nothing_about_other_customers():
    user = PhoneUserFactory(name="王芳", phone="+8613800138000")
    other = PhoneUserFactory(name="赵磊", email="zhao.lei@example.cn", phone="+8613700137000")
    signed_in(other)  # the other customer has a session and audit rows of their own
    client = signed_in(user)
    reauthenticate(client, client.get(reverse("me:data_export")))

    download = client.get(reverse("me:data_export"))

    data = json.loads(download.content.decode("utf-8"))
    assert data["profile"] == {
        "id": str(user.uuid),
        "email": user.email,
        "name": "王芳",
        "phone": "+8613800138000",
        "phone_verified": True,
        "language": "",
        "date_joined": user.date_joined.isoformat(),
        "last_login": data["profile"]["last_login"],
        "privacy_notice_version": "2026-11",
        "privacy_accepted_at": user.privacy_accepted_at.isoformat(),
    }
    assert data["email_addresses"] == [{"email": user.email, "verified": True, "primary": True}]
    assert len(data["sessions"]) == 1
    assert data["activity"], "the customer's own sign-ins are listed"
    raw = download.content.decode("utf-8")
    for trace in [other.email, "赵磊", other.phone, str(other.uuid)]:
        assert trace not in raw


def test_data_export_is_only_for_signed_in_customers(client):
    response = client.get(reverse("me:data_export"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


# --- Close my account ----------------------------------------------------------------------------


def test_closing_the_account_removes_personal_data_and_keeps_the_row(sms_messages, audit_actions):
    user = PhoneUserFactory(name="王芳", phone="+8613800138000")
    totp_enrol(user)
    other_device = signed_in(user)
    client = signed_in(user)
    email, pk, uuid = user.email, user.pk, user.uuid

    response = reauthenticate(client, client.get(reverse("me:account_close")))
    assert response["Location"] == reverse("me:account_close")
    assert client.get(reverse("me:account_close")).status_code == 200
    response = client.post(reverse("me:account_close"), {"confirm": "CLOSE"})
    assert response.status_code == 302

    # The row stays (bills, payments and the audit trail point at it), without the person.
    user = User.objects.get(pk=pk)
    assert user.uuid == uuid
    assert user.email != email
    assert user.email.endswith("@closed.invalid")
    assert (user.name, user.phone, user.phone_verified) == ("", "", False)
    assert not user.is_active
    assert user.closed_at is not None
    assert not user.has_usable_password()
    assert not EmailAddress.objects.filter(user=user).exists()
    assert not EmailAddress.objects.filter(email=email).exists()
    assert not Authenticator.objects.filter(user=user).exists()
    assert "privacy.account_closed" in audit_actions(user)

    # Signed out here and on every other device.
    assert signed_in_user_id(client) is None
    assert not UserSession.objects.filter(user=user).exists()
    assert other_device.get(reverse("me:overview")).status_code == 302

    # And there is no way back in: not by password, not by a code to the old number.
    fresh = Client()
    refused = fresh.post(reverse("account_login"), {"login": email, "password": PASSWORD})
    assert refused.status_code == 200
    assert signed_in_user_id(fresh) is None
    fresh.post(reverse("account_request_login_code"), {"phone": "13800138000"})
    assert all(text["purpose"] != "verification_code" for text in sms_messages("+8613800138000"))


def test_account_is_not_closed_unless_close_is_typed():
    user = PhoneUserFactory()
    client = signed_in(user)
    reauthenticate(client, client.get(reverse("me:account_close")))

    response = client.post(reverse("me:account_close"), {"confirm": "yes"})

    assert response.status_code == 200
    assert "confirm" in response.context["form"].errors
    user.refresh_from_db()
    assert user.is_active
    assert user.closed_at is None
    assert signed_in_user_id(client) == str(user.pk)


def test_closing_without_the_password_again_closes_nothing():
    user = PhoneUserFactory()
    client = signed_in(user)

    response = client.post(reverse("me:account_close"), {"confirm": "CLOSE"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    user.refresh_from_db()
    assert user.is_active
    assert user.closed_at is None
