"""The headers every response carries: a Content-Security-Policy (the back offices a looser one),
frame denial, no MIME sniffing, the referrer kept on the site; and under production's settings,
on every kind of response (pages, errors, redirects, downloads, JSON, the API, the webhook,
static files), HTTPS only (HSTS)."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory
from tests.portal.route_world import route_world

# Who may reach what, and what the site refuses, whatever the date (make test-sweep leaves these
# out of its many dates).
pytestmark = [pytest.mark.django_db, pytest.mark.any_date]


def _policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {
        name: value
        for name, _, value in (part.strip().partition(" ") for part in header.split(";"))
    }


def test_a_public_page_runs_only_the_sites_own_scripts_and_is_never_framed(client):
    response = client.get("/accounts/login/")

    policy = _policy(response)
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_a_customers_own_pages_carry_the_same_policy(client):
    client.force_login(UserFactory())

    response = client.get(reverse("me:dashboard"))

    assert response.status_code == 200
    assert _policy(response)["script-src"] == "'self'"
    assert _policy(response)["frame-ancestors"] == "'none'"


def test_the_back_office_allows_the_admins_inline_scripts_and_its_own_preview_frame(
    client, service_staff
):
    response = client.get("/cms-admin/")

    assert response.status_code == 200
    policy = _policy(response)
    assert "'unsafe-inline'" in policy["script-src"]
    assert policy["frame-ancestors"] == "'self'"
    assert policy["object-src"] == "'none'"
    # Staff avatars are drawn by the admin itself: no e-mail hash is sent to Gravatar.
    assert "gravatar" not in response.content.decode()


def test_a_page_with_its_own_policy_keeps_it(client):
    client.force_login(UserFactory())

    response = client.get(reverse("pay:bills"))

    assert response.status_code == 200
    assert "style-src-attr" not in response["Content-Security-Policy"]


# --- Every kind of response, under production's settings -----------------------------------------
def _download(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# kind of response → (who asks: None, "customer" or "admin"; the request; the status expected)
KINDS = {
    "public page": (None, lambda c, w: c.get("/accounts/login/"), 200),
    "CMS page": (None, lambda c, w: c.get("/"), 200),
    "signed-in page": ("customer", lambda c, w: c.get(reverse("me:dashboard")), 200),
    "not found": (None, lambda c, w: c.get("/no-such-page/"), 404),
    "forbidden": (None, lambda c, w: c.get("/test-errors/deny/"), 403),
    "forged form (CSRF)": ("customer", lambda c, w: c.post(reverse("me:notifications")), 403),
    "server error": (None, lambda c, w: c.get("/test-errors/fail/"), 500),
    "redirect to sign in": (None, lambda c, w: c.get(reverse("me:dashboard")), 302),
    "redirect after a form": (
        "customer",
        lambda c, w: c.post(reverse("set_language"), {"language": "en", "next": "/me/"}),
        302,
    ),
    "receipt PDF": (
        "admin",
        lambda c, w: c.get(reverse("receipts:pdf", kwargs=w["kwargs"]["receipts:pdf"])),
        200,
    ),
    "uploaded document": (
        "customer",
        lambda c, w: c.get(
            reverse("applications:document", kwargs=w["kwargs"]["applications:document"])
        ),
        200,
    ),
    "CSV export": (
        "admin",
        lambda c, w: c.get(reverse("org:export", kwargs=w["kwargs"]["org:export"])),
        200,
    ),
    "JSON answer": (
        "customer",
        lambda c, w: c.get(reverse("pay:status", kwargs=w["kwargs"]["pay:status"])),
        200,
    ),
    "integration API refusal": (None, lambda c, w: c.post("/api/integration/v1/accounts"), 401),
    "integration API schema": (None, lambda c, w: c.get("/api/integration/v1/openapi.json"), 200),
    "health check": (None, lambda c, w: c.get(reverse("healthz")), 200),
    "webhook answer": (
        None,
        lambda c, w: c.post(reverse("pay:stripe_webhook"), "{}", content_type="application/json"),
        400,
    ),
    "feed": (None, lambda c, w: c.get(reverse("cms:notice_feed")), 200),
    "static file": (None, lambda c, w: c.get("/static/img/logo.svg"), 200),
}


@pytest.mark.urls("tests.portal.test_error_pages")
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_response_carries_the_security_headers(production_security, settings, kind):
    """The headers that keep a response from being framed, sniffed, leaked in a referrer or
    fetched over plain HTTP, on whatever the site answers, under production's settings."""
    settings.DEBUG = False
    who, ask, status = KINDS[kind]
    world = route_world()
    browser = production_security
    browser.raise_request_exception = False
    if kind == "forged form (CSRF)":
        browser.handler.enforce_csrf_checks = True
    if who:
        browser.force_login(world[who])

    response = ask(browser, world)
    _download(response)

    assert response.status_code == status
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert _policy(response)["frame-ancestors"] == "'none'"
