"""Every page that names an object answers 404 to anyone who may not see it, and changes nothing
for them.

The test walks the URL configuration, finds every route of ours that takes an identifier, and
requests each one, with every method it answers (a page that shows a form is also posted to), as
three people who must not get through: someone unrelated, a member of the organisation without
the scope the route needs, and nobody (anonymous). What they post is what the rightful person
posts (tests/portal/route_world.py), and the database is compared before and after. The rightful
person's requests are asked too, so that a 404 here is a refusal, not a broken world: their pages
open here, and their posts change something in test_csrf.py. A new route that is not in ROUTES
fails the test until someone states who may reach it.
"""

import uuid

import pytest
from django.urls import reverse

from tests.db_state import database_state, made_once, tables_changed
from tests.factories import UserFactory
from tests.portal.route_world import post_data, route_world, url_patterns

# Who may reach what, and what the site refuses, whatever the date (make test-sweep leaves these
# out of its many dates).
pytestmark = [pytest.mark.django_db, pytest.mark.any_date]

# Framework routes with their own access rules (allauth, Wagtail, Django admin, the token-
# authenticated integration API) are tested where they are configured, not here.
FOREIGN_PREFIXES = (
    "accounts/",
    "cms-admin/",
    "django-admin/",
    "documents/",
    "i18n/",
    "api/",
    "_util/",  # Wagtail's password-protected page views
)

GET, POST, GET_POST = ("GET",), ("POST",), ("GET", "POST")

# route name → (the methods it answers, who of the organisation may pass: "admin" / "member" /
# "viewer" / "manager", or None for personal routes). "member" means any member reaches it (it
# shows only what they may see); "viewer" and "manager" need that scope on the binding in the
# URL; "admin" needs the administrator role. A route that answers POST is posted to with what
# route_world's ``posts`` says the rightful person posts.
ROUTES = {
    "me:bind_code": (GET_POST, None),
    "me:account": (GET, None),
    "me:relabel": (POST, None),
    "me:unbind": (POST, None),
    "org:invitation_accept": (GET_POST, None),
    "org:accounts": (GET, "member"),
    "org:export": (GET, "member"),
    "org:bind": (GET_POST, "admin"),
    "org:bind_code": (GET_POST, "admin"),
    "org:account": (GET, "viewer"),
    "org:unbind": (POST, "manager"),
    "org:members": (GET_POST, "admin"),
    "org:member": (GET_POST, "admin"),
    # GET asks to confirm. A member may leave (their own membership); the world names another's.
    "org:member_remove": (GET_POST, "admin"),
    "org:invitation_revoke": (POST, "admin"),
    "me:account_bills": (GET, None),
    "me:usage": (GET, None),
    "org:bills": (GET, "member"),
    "org:statement": (GET, "member"),
    # The monthly PDF statement needs the view scope on at least one account.
    "org:statement_pdf": (GET, "viewer"),
    # A bill's page serves a person's own bill and an organisation's bill alike: the world
    # names an organisation's, which needs the view scope on its account.
    "bills:detail": (GET, "viewer"),
    # A payment attempt is its creator's alone, whoever the bills belong to.
    "pay:attempt": (GET, None),
    "pay:test_gateway": (GET_POST, None),
    "pay:done": (GET, None),
    "pay:status": (GET, None),
    # A VAT invoice request: the payer, or an administrator of the organisation paid for.
    "pay:invoice": (GET_POST, None),
    # A receipt goes to whoever may see the payment: for an organisation's, the members with the
    # view scope on every account it covers. The verification page is public: a token nobody
    # was issued is "not a valid receipt" (404) to everyone.
    "receipts:pdf": (GET, "viewer"),
    "receipts:verify": (GET, None),
    # An application is its applicant's (and, for one staff opened, whoever binds its account).
    "applications:detail": (GET, None),
    "applications:draft": (GET_POST, None),
    "applications:review": (GET_POST, None),
    "applications:upload": (POST, None),
    "applications:document": (GET, None),
    "applications:document_remove": (POST, None),
    "applications:answer": (POST, None),
    "applications:withdraw": (POST, None),
    # The satisfaction survey is public behind its signed link: an unsigned token is "not a
    # valid survey link" (404) to everyone.
    "survey:answer": (GET_POST, None),
    # An organisation's applications: any member reaches the list and the start page, which show
    # only the cases and accounts the member holds the apply scope on (a member who holds it on
    # none is told so on the start page, with no form, and starts nothing). Its cases open at
    # applications:detail, refused to a member without the scope in
    # tests/applications/test_org_apply.py.
    "org:applications": (GET, "member"),
    "org:application_start": (GET_POST, "member"),
}

# Routes whose token is the credential (whoever holds the link may open it): the wrong people ask
# them with a token nobody was given. The invitation is asked with the customer's real link: it
# is of no use to anyone but the invited address.
OUTSIDER_TOKENS = {
    "receipts:verify": {"token": "not-a-token-anybody-was-issued"},
    "survey:answer": {"token": "not-a-token-anybody-was-sent"},
}

REQUESTS = sorted((name, method) for name, (methods, _who) in ROUTES.items() for method in methods)


def _routes_with_identifiers():
    """(full name, route text) of every named route of ours whose pattern has a converter."""
    for route, name, _view in url_patterns():
        if name and not route.startswith((*FOREIGN_PREFIXES, "^")) and "<" in route:
            yield name, route


def test_every_route_with_an_identifier_is_in_the_matrix():
    found = dict(_routes_with_identifiers())

    escaped = sorted(set(found) - set(ROUTES))
    assert not escaped, f"routes missing from the access matrix: {escaped}"
    assert not sorted(set(ROUTES) - set(found)), "the matrix names routes that no longer exist"


def test_every_route_that_answers_post_says_what_is_posted(world):
    posted = {name for name, (methods, _who) in ROUTES.items() if "POST" in methods}

    assert posted == set(world["posts"])


@pytest.fixture(scope="module")
def _world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The world, made once for the module's tests: making it took half of each test's time."""
    files = tmp_path_factory.mktemp("world")
    with made_once(django_db_blocker, files):
        yield route_world(), files


@pytest.fixture
def world(_world, _isolated, settings):
    world, files = _world
    settings.MEDIA_ROOT = files / "media"
    return world


def rightful(world, name):
    """Who may use ``name`` in the world: the customer holds the personal objects, the
    administrator the organisation's."""
    return world["customer"] if ROUTES[name][1] is None else world["admin"]


def _request(client, world, name, method, kwargs=None):
    url = reverse(name, kwargs=kwargs or world["kwargs"][name])
    if method == "POST":
        return client.post(url, post_data(world, name))
    return client.get(url)


def _as_outsider(client, world, name, method):
    """The request, with a token nobody was given where the token is the credential; and the
    tables it changed."""
    kwargs = OUTSIDER_TOKENS.get(name, world["kwargs"][name])
    before = database_state()
    response = _request(client, world, name, method, kwargs)
    return response, tables_changed(before)


def _body(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode("utf-8-sig")


@pytest.mark.parametrize(("name", "method"), REQUESTS)
def test_an_unrelated_person_gets_not_found_and_changes_nothing(client, world, name, method):
    client.force_login(UserFactory())

    response, changed = _as_outsider(client, world, name, method)

    if name == "org:invitation_accept":
        # Another person's invitation gets the same refusal as an expired or used one, naming
        # no organisation.
        assert response.status_code in (200, 404)
        assert "示例公司" not in _body(response)
    else:
        assert response.status_code == 404
    assert changed == []


@pytest.mark.parametrize(("name", "method"), REQUESTS)
def test_anonymous_visitors_are_sent_to_sign_in_or_get_not_found(client, world, name, method):
    response, changed = _as_outsider(client, world, name, method)

    if response.status_code == 302:
        assert response["Location"].startswith(reverse("account_login"))
    else:
        assert response.status_code == 404
    assert changed == []


@pytest.mark.parametrize(
    ("name", "method"), [(name, method) for name, method in REQUESTS if ROUTES[name][1]]
)
def test_a_member_without_the_scope_gets_not_found_and_changes_nothing(client, world, name, method):
    client.force_login(world["member"])

    response, changed = _as_outsider(client, world, name, method)

    if ROUTES[name][1] == "member":
        # Any member reaches the organisation's pages, which show nothing they may not see.
        assert response.status_code == 200
        assert world["org_binding"].account.number not in _body(response)
    else:
        assert response.status_code == 404
    assert changed == []


@pytest.mark.parametrize(
    "name", sorted(n for n, (methods, _who) in ROUTES.items() if GET[0] in methods)
)
def test_the_rightful_person_opens_the_page(client, world, name):
    client.force_login(rightful(world, name))

    response = _request(client, world, name, "GET")

    assert response.status_code == 200, response.get("Location")


def test_random_identifiers_are_not_found(client, world):
    client.force_login(world["member"])

    assert client.get(reverse("me:account", args=[uuid.uuid4()])).status_code == 404
    assert client.get(reverse("org:accounts", args=[uuid.uuid4()])).status_code == 404
