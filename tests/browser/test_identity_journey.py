"""A new customer's first visit in a real browser: sign up, verify the e-mail with the code, set
up an authenticator app, sign out, and sign in again with password and authenticator code.

Elements are found by form field names, form actions and button types, never by CSS classes or
wording, so restyled templates and new translations do not break it.
"""

from urllib.parse import urlsplit

import pytest
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import reverse

from portal.models import User
from tests.factories import PASSWORD

EMAIL = "chen.jing@example.cn"


def path_of(page) -> str:
    return urlsplit(page.url).path


def submit(page, action: str) -> None:
    """Press the submit button of the form posting to ``action`` and wait for the next page."""
    with page.expect_navigation():
        page.locator(f'form[action="{action}"] button[type="submit"]').first.click()


@pytest.mark.browser
def test_customer_signs_up_verifies_enrols_totp_and_signs_in_with_it(
    page, screenshot, mail_code, totp_code
):
    # Sign up.
    page.goto(reverse("account_signup"))
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    page.fill('input[name="name"]', "陈静")
    page.fill('input[name="email"]', EMAIL)
    page.fill('input[name="password1"]', PASSWORD)
    page.fill('input[name="password2"]', PASSWORD)
    page.check('input[name="privacy_accepted"]')
    screenshot("journey-1-signup")
    submit(page, reverse("account_signup"))
    assert path_of(page) == reverse("account_email_verification_sent")

    # The code from the e-mail.
    page.fill('input[name="code"]', mail_code(EMAIL))
    submit(page, reverse("account_email_verification_sent"))
    assert path_of(page) == resolve_url(settings.LOGIN_REDIRECT_URL)
    page.goto(reverse("me:overview"))
    assert EMAIL in page.content()
    screenshot("journey-2-my-account")

    # Authenticator app: password again, then the code computed from the secret on the page.
    page.goto(reverse("mfa_activate_totp"))
    assert path_of(page) == reverse("account_reauthenticate")
    page.fill('input[name="password"]', PASSWORD)
    submit(page, reverse("account_reauthenticate"))
    assert path_of(page) == reverse("mfa_activate_totp")
    secret = page.input_value("#authenticator_secret")
    screenshot("journey-3-totp-activate")
    page.fill('input[name="code"]', totp_code(secret))
    submit(page, reverse("mfa_activate_totp"))
    assert path_of(page) == reverse("mfa_view_recovery_codes")
    user = User.objects.get(email=EMAIL)
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()

    # Sign out.
    page.goto(reverse("account_logout"))
    submit(page, reverse("account_logout"))
    page.goto(reverse("me:overview"))
    assert path_of(page) == reverse("account_login")

    # Sign in: password, then the authenticator code.
    page.goto(reverse("account_login"))
    page.fill('input[name="login"]', EMAIL)
    page.fill('input[name="password"]', PASSWORD)
    submit(page, reverse("account_login"))
    assert path_of(page) == reverse("mfa_authenticate")
    screenshot("journey-4-mfa-authenticate")
    page.fill('input[name="code"]', totp_code(secret))
    submit(page, reverse("mfa_authenticate"))
    assert path_of(page) == resolve_url(settings.LOGIN_REDIRECT_URL)
    page.goto(reverse("me:overview"))
    assert EMAIL in page.content()
    screenshot("journey-5-signed-in-with-totp")
