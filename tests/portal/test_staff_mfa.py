"""The back offices (Wagtail at /cms-admin/, Django's admin at /django-admin/) are for staff and
editors only, and only once they use two-factor authentication (StaffMFARequiredMiddleware)."""

import pytest
from allauth.mfa.models import Authenticator
from bs4 import BeautifulSoup
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Group
from django.urls import reverse

from tests.factories import PASSWORD, StaffUserFactory, UserFactory, totp_enrol

pytestmark = pytest.mark.django_db

CMS_ADMIN = "/cms-admin/"
DJANGO_ADMIN = "/django-admin/"


def log_in_with_password(client, user):
    return client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})


@pytest.mark.parametrize("back_office", [CMS_ADMIN, DJANGO_ADMIN])
def test_staff_without_totp_are_sent_to_set_it_up(client, back_office):
    staff = StaffUserFactory()
    log_in_with_password(client, staff)

    response = client.get(back_office)

    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")


def test_editor_without_totp_is_sent_to_set_it_up(client):
    # Wagtail's own "Editors" group grants admin access without is_staff.
    editor = UserFactory()
    editor.groups.add(Group.objects.get(name="Editors"))
    log_in_with_password(client, editor)

    response = client.get(CMS_ADMIN)

    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")


def test_staff_reach_the_cms_admin_after_enrolling_totp_and_signing_in_with_it(client, totp_code):
    staff = StaffUserFactory()
    log_in_with_password(client, staff)

    # Sent to enrol; allauth asks for the password again, then shows the secret.
    response = client.get(CMS_ADMIN, follow=True)
    assert response.redirect_chain[0] == (reverse("mfa_activate_totp"), 302)
    assert response.redirect_chain[-1][0].startswith(reverse("account_reauthenticate"))
    client.post(response.redirect_chain[-1][0], {"password": PASSWORD})
    page = client.get(reverse("mfa_activate_totp"))
    secret = BeautifulSoup(page.content, "html.parser").find("input", id="authenticator_secret")
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret["value"])})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.TOTP).exists()

    # The next sign-in takes the password and the authenticator code; then the admin opens.
    client.post(reverse("account_logout"))
    response = log_in_with_password(client, staff)
    assert response["Location"] == reverse("mfa_authenticate")
    assert SESSION_KEY not in client.session
    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret["value"])})
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(staff.pk)

    response = client.get(CMS_ADMIN)
    assert response.status_code == 200
    assert response.resolver_match.view_name == "wagtailadmin_home"


def test_staff_with_totp_sign_in_with_it_and_reach_the_cms_admin(client, totp_code):
    staff = StaffUserFactory()
    secret = totp_enrol(staff)

    response = log_in_with_password(client, staff)
    assert response["Location"] == reverse("mfa_authenticate")
    # Password alone does not open the back office: Wagtail sends the visitor to sign in.
    response = client.get(CMS_ADMIN)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))

    client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert client.get(CMS_ADMIN).status_code == 200


def test_signed_in_customer_is_refused_the_cms_admin(client):
    # Wagtail would redirect a signed-in user without admin access to the login page, which
    # sends a signed-in user straight back: the middleware answers 403 instead of that loop.
    customer = UserFactory()
    log_in_with_password(client, customer)

    response = client.get(CMS_ADMIN)

    assert response.status_code == 403
    assert client.get(CMS_ADMIN + "pages/").status_code == 403


def test_signed_in_customer_is_sent_to_the_django_admin_login(client):
    customer = UserFactory()
    log_in_with_password(client, customer)

    response = client.get(DJANGO_ADMIN)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert client.get(response["Location"]).status_code == 200  # the page, not a loop


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(CMS_ADMIN)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={CMS_ADMIN}"
