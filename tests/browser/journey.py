"""What the browser journeys share (the application and the outage journeys): finding where a page
is, posting a form and waiting for what it loads, signing in to the site and to the back office.
The ``contexts`` fixture (a browser context per person, in the test's language) is in
conftest.py."""

from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD

LANGUAGES = {"zh-CN": "zh-hans", "en-US": "en"}
"""The browser's locale → Django's code for the language it asks for."""

back_office_on_postgresql = pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason=(
        "the live server's threads share one in-memory SQLite connection (Django's test setup), "
        "and the back office's overlapping requests break its transactions now and then; CI "
        "runs this journey on PostgreSQL, where each thread has its own connection"
    ),
)
"""For journeys through the back office."""


def path_of(page) -> str:
    return urlsplit(page.url).path


def submit(page, form_selector: str, button: str = "button[type=submit]") -> None:
    """Click the first ``button`` of the form ``form_selector`` in the page's main content, and
    wait for the page it leads to."""
    with page.expect_navigation():
        page.locator(f"main {form_selector} {button}").first.click()


def settled(page) -> None:
    """Wait until the page has stopped fetching (the back office loads its icon sprite and
    scripts after the page): on SQLite the live server's threads share one connection, and a
    form posted while another request is running can break the transaction of both."""
    page.wait_for_load_state("networkidle")


def sign_in(page, email: str, next_path: str = "") -> None:
    page.goto(reverse("account_login") + (f"?next={next_path}" if next_path else ""))
    page.fill('input[name="login"]', email)
    page.fill('input[name="password"]', PASSWORD)
    submit(page, f'form[action^="{reverse("account_login")}"]')


def sign_in_by_cookie(context, user, server_url: str) -> None:
    """Sign ``user`` in to a browser ``context`` without the sign-in page, for tests whose
    subject is not signing in: a session made as Django's test client makes one, handed to the
    browser as its session cookie for ``server_url`` (the live server's). Staff need their
    authenticator enrolled (``totp_enrol``) to open the back office, as after a real sign-in."""
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": server_url}]
    )


def sign_in_to_the_back_office(page, user, secret: str, next_path: str, totp_code) -> None:
    """Sign in as a member of staff with their password and authenticator code (``secret``, the
    test's ``totp_code`` fixture reads it), landing on ``next_path``."""
    sign_in(page, user.email, next_path)
    assert path_of(page) == reverse("mfa_authenticate")
    page.fill('input[name="code"]', totp_code(secret))
    submit(page, f'form[action="{reverse("mfa_authenticate")}"]')
    assert path_of(page) == next_path
    settled(page)
