"""The headers every response carries: a Content-Security-Policy (the back offices a looser one),
frame denial, no MIME sniffing, the referrer kept on the site."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


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
