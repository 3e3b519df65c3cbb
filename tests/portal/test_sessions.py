"""Sessions: a session id someone planted or saw before sign-in is worthless after it (the id
changes at every way in: password, e-mail code, and the authenticator step of staff), signing out
ends the session on the server (its cookie, replayed, is signed out), and production's cookies
are Secure, HttpOnly, SameSite and host-only (__Host-).

Each is asked of the embedded default and of production's settings (sessions in the database
behind the cache, the __Host- names, HTTPS through the proxy).
"""

from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, StaffUserFactory, UserFactory, totp_enrol

# Who may reach what, and what the site refuses, whatever the date (make test-sweep leaves these
# out of its many dates).
pytestmark = [pytest.mark.django_db, pytest.mark.any_date]


@pytest.fixture(params=["embedded default", "production"])
def browser(request):
    """A browser of the embedded default, or of production (over HTTPS through the proxy)."""
    if request.param == "production":
        return request.getfixturevalue("production_security")
    return Client()


def _store(key=None):
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)


def _key(client) -> str | None:
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    return cookie.value if cookie and cookie.value else None


def _plant(client) -> str:
    """A session someone else made and slipped into the browser (session fixation)."""
    store = _store()
    store["planted"] = True
    store.create()
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    return store.session_key


def _replayed(browser, key: str, path: str):
    """The answer to ``path`` for another browser (of the same kind) holding only ``key``."""
    other = Client(**browser.defaults)
    other.cookies[settings.SESSION_COOKIE_NAME] = key
    return other.get(path)


def _assert_worthless(browser, key: str, path: str = "/me/") -> None:
    assert not _store(key).exists(key)
    response = _replayed(browser, key, path)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def _sign_in(browser, user):
    return browser.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})


def test_signing_in_with_a_password_gives_a_new_session_id(browser):
    user = UserFactory()
    planted = _plant(browser)

    assert _sign_in(browser, user).status_code == 302

    assert _key(browser) != planted
    assert _store(_key(browser))[SESSION_KEY] == str(user.pk)
    _assert_worthless(browser, planted)


def test_signing_in_with_an_email_code_gives_a_new_session_id(browser, mail_code):
    user = UserFactory()
    planted = _plant(browser)
    browser.post(reverse("account_request_login_code"), {"email": user.email})
    waiting = _key(browser)

    response = browser.post(reverse("account_confirm_login_code"), {"code": mail_code(user.email)})

    assert response.status_code == 302
    assert _key(browser) not in (planted, waiting)
    assert _store(_key(browser))[SESSION_KEY] == str(user.pk)
    _assert_worthless(browser, planted)
    _assert_worthless(browser, waiting)


def test_staff_get_a_new_session_id_after_the_authenticator_step(browser, totp_code):
    staff = StaffUserFactory()
    secret = totp_enrol(staff)
    planted = _plant(browser)

    response = _sign_in(browser, staff)
    assert response["Location"] == reverse("mfa_authenticate")
    # The password alone signs nobody in: this session reaches no back office.
    halfway = _key(browser)
    assert SESSION_KEY not in _store(halfway).load()
    assert _replayed(browser, halfway, "/cms-admin/").status_code == 302

    response = browser.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})

    assert response.status_code == 302
    assert _key(browser) not in (planted, halfway)
    assert browser.get("/cms-admin/").status_code == 200
    _assert_worthless(browser, planted, "/cms-admin/")
    _assert_worthless(browser, halfway, "/cms-admin/")


def test_signing_out_ends_the_session_on_the_server(browser):
    _sign_in(browser, UserFactory())
    signed_in = _key(browser)
    assert _replayed(browser, signed_in, "/me/").status_code == 200

    assert browser.post(reverse("account_logout")).status_code == 302

    _assert_worthless(browser, signed_in)


def _cookie(response, name):
    assert name in response.cookies, f"{name} not set: {list(response.cookies)}"
    return response.cookies[name]


def _assert_host_only(cookie) -> None:
    """What a browser needs to keep a __Host- cookie: Secure, Path=/ and no Domain."""
    assert cookie.key.startswith("__Host-")
    assert cookie["secure"] is True
    assert cookie["path"] == "/"
    assert cookie["domain"] == ""


def test_production_cookies_are_secure_http_only_same_site_and_host_only(production_security):
    browser = production_security

    form = browser.get(reverse("account_login"))
    signed_in = _sign_in(browser, UserFactory())
    switched = browser.post(reverse("set_language"), {"language": "en", "next": "/"})

    csrf = _cookie(form, settings.CSRF_COOKIE_NAME)
    session = _cookie(signed_in, settings.SESSION_COOKIE_NAME)
    for cookie in (csrf, session):
        _assert_host_only(cookie)
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"
    # Rotated on sign-in: the new token is host-only too.
    _assert_host_only(_cookie(signed_in, settings.CSRF_COOKIE_NAME))
    assert _cookie(switched, settings.LANGUAGE_COOKIE_NAME)["secure"] is True
