"""The webhook URL takes a short path through the middleware (portal.middleware.
WebhookShortPathMiddleware): no session, user, locale, page cache or session activity, and still
the request id and the security headers; every other URL keeps the whole stack."""

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from payments.models import AttemptStatus, WebhookEvent, WebhookStatus
from tests.factories import UserFactory
from tests.payments.test_webhooks import URL, bill_attempt, cash_lines, deliver, sign, stripe_event

pytestmark = pytest.mark.django_db

SECURITY_HEADERS = ("X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options")


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_webhooks"


def signed_in_client(user=None) -> Client:
    """A browser with a session cookie and a language cookie, as a person's would have: the
    webhook must take neither into account nor set either."""
    client = Client(HTTP_ACCEPT_LANGUAGE="en", HTTP_X_REQUEST_ID="req-webhook-path-1")
    client.force_login(user or UserFactory())
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def test_a_delivery_sets_no_cookie_touches_no_session_and_is_credited_once():
    _bill, attempt = bill_attempt()
    body = stripe_event("payment_intent.succeeded", attempt)
    client = signed_in_client()

    with CaptureQueriesContext(connection) as queries:
        first = deliver(body, client=client)
    again = deliver(body, client=client)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.content == b"already handled"
    for response in (first, again):
        assert not response.cookies
        assert "Content-Language" not in response
        assert "Cookie" not in response.get("Vary", "")
        assert all(name in response for name in SECURITY_HEADERS)
        assert response["X-Request-ID"] == "req-webhook-path-1"
    # Neither the session nor the user was read, nor the session list written.
    tables = " ".join(query["sql"] for query in queries.captured_queries)
    assert "django_session" not in tables
    assert "usersessions_usersession" not in tables
    event = WebhookEvent.objects.get()
    assert (event.status, event.deliveries) == (WebhookStatus.PROCESSED, 2)
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED
    assert [line.amount for line in cash_lines()] == [attempt.amount]


def test_another_page_keeps_the_whole_stack():
    client = signed_in_client()

    page = client.get("/pay/")
    # CSRF still guards every other form: a POST without the token is refused.
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(UserFactory())
    refused = strict.post("/pay/", {})

    assert page.status_code == 200
    assert page["Content-Language"] == "en"  # the language cookie was read
    assert "Cookie" in page["Vary"]  # the session was read
    assert all(name in page for name in SECURITY_HEADERS)
    assert page["X-Request-ID"] == "req-webhook-path-1"
    assert page.wsgi_request.user.is_authenticated
    assert refused.status_code == 403


def test_the_short_path_is_the_webhook_endpoint_alone():
    assert [reverse("pay:stripe_webhook")] == settings.WEBHOOK_PATHS
    # Another path next to it is a person's page, with the whole stack (here Wagtail's 404).
    response = signed_in_client().post("/pay/webhooks/not-a-provider/", b"{}", "application/json")

    assert response.status_code == 404
    assert response["Content-Language"] == "en"


def test_the_reason_kept_for_a_delivery_is_in_the_language_it_asks_for_not_the_last_requests():
    """A worker's thread keeps the language its last request activated; the short path skips
    LocaleMiddleware, so it must choose the delivery's own: Accept-Language, else the default."""
    body = b'{"id": "evt_unreadable", "type": "payment_intent.succeeded", "data": []}'
    translation.activate("en")  # as an English page served just before by the same thread
    try:
        default = Client().post(
            URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=sign(body)
        )
    finally:
        translation.deactivate()
    english = Client().post(
        URL,
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(body),
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert (default.status_code, english.status_code) == (200, 200)
    assert "应为" in default.content.decode()  # the site's default language, Chinese
    assert "must be" in english.content.decode()
