"""Who keeps the service settings (Settings → Service settings, the hotline every page shows):
the content roles, editors and reviewers (portal/roles.py); service staff do not."""

import pytest
from bs4 import BeautifulSoup
from django.test import Client
from django.urls import reverse
from wagtail.models import Site

from cms.models import ServiceSettings
from portal.roles import EDITORS, REVIEWERS, SERVICE_STAFF, roles_ensure
from tests.factories import PASSWORD, StaffUserFactory, totp_enrol

pytestmark = pytest.mark.django_db


@pytest.fixture
def sign_in(totp_code):
    """``sign_in(role)``: a browser of a new member of ``role``, signed in to the back office with
    their password and authenticator code, reading English."""
    roles = roles_ensure()

    def open_as(role: str) -> Client:
        user = StaffUserFactory()
        user.groups.add(roles[role])
        secret = totp_enrol(user)
        browser = Client(HTTP_ACCEPT_LANGUAGE="en")
        browser.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
        browser.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
        return browser

    return open_as


def settings_url() -> str:
    site = Site.objects.get(is_default_site=True)
    return reverse("wagtailsettings:edit", args=["cms", "servicesettings", site.pk])


def hotlines_shown(client: Client) -> set[str]:
    page = BeautifulSoup(client.get("/").content, "html.parser")
    return {a.get_text(strip=True) for a in page.select("a[href^='tel:']")}


@pytest.mark.parametrize("role", [EDITORS, REVIEWERS])
def test_an_editor_or_reviewer_changes_the_hotline_and_the_site_shows_it(
    role, sign_in, client, django_capture_on_commit_callbacks
):
    browser = sign_in(role)
    dashboard = browser.get("/cms-admin/").content.decode()
    assert reverse("wagtailsettings:edit", args=["cms", "servicesettings"]) in dashboard  # menu

    assert browser.get(settings_url()).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        saved = browser.post(settings_url(), {"hotline": "400-800-9559"})

    assert saved.status_code == 302
    assert ServiceSettings.objects.get().hotline == "400-800-9559"
    assert hotlines_shown(client) == {"400-800-9559"}


def test_service_staff_cannot_change_the_hotline(sign_in, client):
    browser = sign_in(SERVICE_STAFF)

    assert browser.get(settings_url()).status_code in (302, 403)
    browser.post(settings_url(), {"hotline": "400-800-9559"})

    assert not ServiceSettings.objects.exclude(hotline="").exists()
    assert hotlines_shown(client) == {"95598"}
