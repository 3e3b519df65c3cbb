"""A request forged by another site changes nothing: every route that changes something refuses a
POST without the CSRF token.

The test walks the whole URL configuration:

- No view is exempt from Django's CSRF check but those in EXEMPT, each with its reason.
- Every route of ours is stated: those with an identifier in the access matrix's ROUTES
  (test_access_matrix.py), the others, with allauth's sign-in and sign-out, in ROUTES here. A new
  route fails the test until someone says whether it changes something.
- Every route that answers POST is posted to as the person who may use it, from a browser that
  holds the site's CSRF cookie (as a victim's does), by a client that enforces the check: without
  the token the answer is 403 and the database is as it was; the same POST with the token goes
  through and changes something, so the refusal protected something real.
- A route stated to be read-only changes nothing when posted to, token or not.

The rest of allauth's pages, Wagtail's and Django's admin are not exempt (the first test), so the
same middleware refuses them.
"""

import json

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from wagtail.models import Page

from portal.models import User
from tests.db_state import database_state, made_once, tables_changed
from tests.factories import PASSWORD, BillFactory, BindingFactory
from tests.payments.test_invoices import USCC
from tests.portal.route_world import post_data, route_world, url_patterns
from tests.portal.test_access_matrix import FOREIGN_PREFIXES, rightful
from tests.portal.test_access_matrix import ROUTES as ROUTES_WITH_IDENTIFIERS

# Who may reach what, and what the site refuses, whatever the date (make test-sweep leaves these
# out of its many dates).
pytestmark = [pytest.mark.django_db, pytest.mark.any_date]

# route name, or the prefix of a group of routes → why it may be posted to without the token.
EXEMPT = {
    "pay:stripe_webhook": "The payment provider has no session: the Stripe-Signature header, "
    "checked against STRIPE_WEBHOOK_SECRET, proves who sent it (tests/payments/test_webhooks.py).",
    "set_language": "Served from the anonymous page cache, whose pages cannot carry a token; it "
    "only sets the visitor's display-language cookie and follows only a `next` on this site "
    "(docs/cms.md, 'Speed'; test_the_language_switch_needs_no_token_and_changes_only_a_cookie).",
    "elder_mode": "The elder-friendly switch sits in the header of pages served from the anonymous "
    "page cache: signed out it only sets the display cookie, like the language switch; signed in "
    "the view makes Django's CSRF check itself before it changes the person's setting "
    "(tests/portal/test_elder_mode.py, test_signed_in_the_switch_needs_the_forms_token).",
    "api/integration/v1/": "The integration API authenticates every call by its bearer token and "
    "never reads the session cookie: a forged request carries no credential "
    "(portal/integration_api.py; test_the_integration_api_ignores_the_session_cookie).",
    "cms-admin/api/main/": "Wagtail's admin API (Django REST framework) is exempt from the "
    "middleware, but its SessionAuthentication makes the same check for a signed-in session "
    "(test_wagtails_admin_api_checks_the_token_itself).",
}

# Routes of ours without an identifier (and allauth's sign-in and sign-out): what the person who
# may use it posts (a function of the world), or READ_ONLY.
READ_ONLY = None
ROUTES = {
    "account_login": lambda world: {"login": world["customer"].email, "password": PASSWORD},
    "account_logout": lambda world: {},
    "applications:list": READ_ONLY,
    "applications:start": lambda world: {"kind": "new_connection", "customer_class": "residential"},
    "me:dashboard": READ_ONLY,
    "me:overview": READ_ONLY,
    "me:privacy": READ_ONLY,
    "me:notifications": lambda world: {"language": "en"},
    "me:data_export": READ_ONLY,
    "me:account_close": lambda world: {"confirm": "CLOSE"},
    "me:bind": lambda world: {
        "method": "code",
        "code-number": "3100000095",
        "code-channel": "phone_code",
    },
    "me:history": READ_ONLY,
    "me:bills": READ_ONLY,
    "org:create": lambda world: {"name": "北京星河商贸有限公司", "uscc": USCC},
    "pay:bills": lambda world: {"bill": [world["unpaid_bill"].uuid]},
    "pay:history": READ_ONLY,
    "privacy_notice": READ_ONLY,
    "healthz": READ_ONLY,
    "cms_image": READ_ONLY,
    "cms:notice_feed": READ_ONLY,
    "cms:outage_calendar": READ_ONLY,
    "cms:search": READ_ONLY,
    # Every page of the site (Wagtail's serve view): the home page stands for them.
    "wagtail_serve": READ_ONLY,
}
# allauth's routes asked here; the rest of its pages are covered by the exemption walk.
ALLAUTH = {"account_login", "account_logout"}
URL_ARGS = {"wagtail_serve": [""], "cms_image": ["missing.png"]}

# A CSRF secret of the right form, set as the cookie a victim's browser holds; the forged form
# does not carry it.
TOKEN = "csrfsecretcsrfsecretcsrfsecret12"


def _exemption(route: str, name: str | None) -> str | None:
    return next(
        (reason for key, reason in EXEMPT.items() if key == name or route.startswith(key)), None
    )


def test_only_the_stated_views_are_exempt_from_the_check():
    exempt = [
        (route, name) for route, name, view in url_patterns() if getattr(view, "csrf_exempt", False)
    ]

    unstated = [(route, name) for route, name in exempt if _exemption(route, name) is None]
    assert not unstated, f"CSRF-exempt views nobody has justified: {unstated}"
    stale = [
        key for key in EXEMPT if not any(key in (name, route[: len(key)]) for route, name in exempt)
    ]
    assert not stale, f"EXEMPT names routes that are no longer exempt: {stale}"


def test_every_route_of_ours_says_whether_it_changes_something():
    ours = {
        name
        for route, name, _view in url_patterns()
        if name
        and (not route.startswith(FOREIGN_PREFIXES) or name in ALLAUTH)
        and not _exemption(route, name)
    }

    assert sorted(ours - set(ROUTES) - set(ROUTES_WITH_IDENTIFIERS)) == []
    assert sorted(set(ROUTES) - ours) == []


@pytest.fixture(scope="module")
def _world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The world, made once for the module's tests (tests/db_state.py, ``made_once``)."""
    files = tmp_path_factory.mktemp("world")
    with made_once(django_db_blocker, files):
        world = route_world()
        world["unpaid_bill"] = BillFactory(account=BindingFactory(user=world["customer"]).account)
        yield world, files


@pytest.fixture
def world(_world, _isolated, settings):
    world, files = _world
    settings.MEDIA_ROOT = files / "media"
    return world


def _who(world, name):
    """Who may use ``name`` (nobody, to sign in)."""
    if name == "account_login":
        return None
    return rightful(world, name) if name in ROUTES_WITH_IDENTIFIERS else world["customer"]


def _browser(user, *, again=False):
    """A browser that enforces the check and holds the CSRF cookie, signed in as ``user`` (if
    any); ``again``: who has just given their password again (closing the account asks)."""
    client = Client(enforce_csrf_checks=True)
    client.cookies[settings.CSRF_COOKIE_NAME] = TOKEN
    if user is not None:
        client.force_login(user)
    if again:
        password = {"password": PASSWORD, "csrfmiddlewaretoken": TOKEN}
        assert client.post(reverse("account_reauthenticate"), password).status_code == 302
    return client


def _url(world, name) -> str:
    if name in ROUTES_WITH_IDENTIFIERS:
        return reverse(name, kwargs=world["kwargs"][name])
    return reverse(name, args=URL_ARGS.get(name))


def _data(world, name) -> dict:
    if name in ROUTES_WITH_IDENTIFIERS:
        return post_data(world, name)
    return ROUTES[name](world)


def _token(client) -> str:
    """The token of the browser's CSRF cookie (signing in gives it a new one)."""
    return client.cookies[settings.CSRF_COOKIE_NAME].value


def _signed_in(client) -> bool:
    return SESSION_KEY in client.session


POSTED = sorted(
    [name for name, (methods, _rule) in ROUTES_WITH_IDENTIFIERS.items() if "POST" in methods]
    + [name for name, data in ROUTES.items() if data is not READ_ONLY]
)
READ = sorted(
    [name for name, (methods, _rule) in ROUTES_WITH_IDENTIFIERS.items() if "POST" not in methods]
    + [name for name, data in ROUTES.items() if data is READ_ONLY]
)


@pytest.mark.parametrize("name", POSTED)
def test_a_post_without_the_token_is_refused_and_changes_nothing(world, name):
    client = _browser(_who(world, name), again=name == "me:account_close")
    url = _url(world, name)
    forged_data, genuine_data = _data(world, name), _data(world, name)
    signed_in = _signed_in(client)
    before = database_state()

    forged = client.post(url, forged_data)

    assert forged.status_code == 403
    assert tables_changed(before) == []
    assert _signed_in(client) == signed_in

    genuine = client.post(url, genuine_data | {"csrfmiddlewaretoken": _token(client)})

    assert genuine.status_code != 403
    # Signing out deletes the session only, which the comparison leaves out.
    assert tables_changed(before) != [] or _signed_in(client) != signed_in


def test_the_read_only_routes_change_nothing_when_posted_to(world):
    """One world for all of them: each is asked in turn, and none may change it."""
    answers = {}
    browsers = {user: _browser(user) for user in {_who(world, name) for name in READ}}
    before = database_state()

    for name in READ:
        client = browsers[_who(world, name)]
        forged = client.post(_url(world, name))
        genuine = client.post(_url(world, name), {"csrfmiddlewaretoken": _token(client)})
        answers[name] = (forged.status_code, genuine.status_code != 403)

    assert answers == dict.fromkeys(READ, (403, True))
    assert tables_changed(before) == []


def test_the_language_switch_needs_no_token_and_changes_only_a_cookie(world):
    client = _browser(world["customer"])
    before = database_state()

    response = client.post(
        reverse("set_language"), {"language": "en", "next": "https://evil.example/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert tables_changed(before) == []
    assert User.objects.get(pk=world["customer"].pk).language == world["customer"].language


def test_the_integration_api_ignores_the_session_cookie(world):
    client = _browser(world["customer"])
    before = database_state()

    response = client.post(
        "/api/integration/v1/accounts",
        "number,holder_name\n",
        content_type="text/csv",
    )

    assert response.status_code == 401
    assert tables_changed(before) == []


def test_wagtails_admin_api_checks_the_token_itself(client, service_staff):
    staff = Client(enforce_csrf_checks=True)
    staff.cookies = client.cookies
    staff.cookies[settings.CSRF_COOKIE_NAME] = TOKEN
    home = Page.objects.get(depth=2)
    url = reverse("wagtailadmin_api:pages:action", args=[home.pk, "copy"])
    body = json.dumps({"destination_page_id": home.get_parent().pk, "new_slug": "copied"})
    pages = Page.objects.count()

    forged = staff.post(url, body, content_type="application/json")

    assert forged.status_code == 403
    assert "CSRF" in forged.json()["detail"]
    assert Page.objects.count() == pages

    genuine = staff.post(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=TOKEN)

    assert "CSRF" not in genuine.content.decode(), genuine.content


@pytest.mark.parametrize(
    ("language", "heading"), [("zh-hans", "表单未能提交"), ("en", "The form was not sent")]
)
def test_a_refused_form_gets_the_sites_own_page_in_the_visitors_language(language, heading):
    """Not Django's bare English "CSRF verification failed": the site's error page, saying what
    to do, with the error id, and nothing of why the check failed."""
    browser = Client(enforce_csrf_checks=True)
    browser.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    refused = browser.post(reverse("account_login"), {"login": "someone", "password": "x"})

    assert refused.status_code == 403
    body = refused.content.decode()
    assert f'<h1 class="page-title" id="error-title">{heading}</h1>' in body
    assert refused["X-Request-ID"] in body
    assert 'class="skip-link"' in body  # the site's shell, header and footer
    for detail in ("CSRF verification failed", "Referer", "CSRF cookie", "CSRF token"):
        assert detail not in body, detail
