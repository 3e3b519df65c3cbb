"""The back offices refuse everyone who is not staff: every route of Wagtail's admin
(/cms-admin/) and Django's admin (/django-admin/), asked with GET and POST.

The test walks the URL configuration, so a route a new version of Wagtail or Django adds is
asked too. Identifiers are those of real objects (a bill, a page, a user), so a refusal is not a
404 for something that does not exist. Those asking:

- nobody (anonymous): sent to sign in, or refused;
- a signed-in resident: refused;
- a member of staff who has not set up two-factor authentication: sent to set it up (the
  refusal of any other member of staff is a matter of Wagtail's permissions, tested with the
  back office's own pages).

None of them gets a page (2xx), and the database is as it was after all of their requests.
"""

import re

import pytest
from django.test import Client
from django.urls import reverse
from wagtail.models import Page

from tests.db_state import database_state, made_once, tables_changed
from tests.factories import BillFactory, StaffUserFactory, UserFactory
from tests.portal.route_world import url_patterns

pytestmark = [pytest.mark.django_db, pytest.mark.any_date]

BACK_OFFICES = ("cms-admin/", "django-admin/")
# Not asked: the ways in (the two admins' sign-in and sign-out pages, each sending to
# allauth's), and Wagtail's icon sprite and the translations of its scripts, the same static
# files for everyone.
NOT_ASKED = {
    "wagtailadmin_login",
    "wagtailadmin_logout",
    "admin:login",
    "admin:logout",
    "wagtailadmin_sprite",
    "wagtailadmin_javascript_catalog",
}

_PLACEHOLDER = re.compile(r"<(?:(\w+):)?(\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<\w+>([^()]*)\)")


def _url(route: str, ids: dict[str, str]) -> str:
    """A URL of ``route`` naming real objects: an integer is a real id, anything else a word.
    Routes written as regular expressions get, for each group, the id if it takes one, else its
    first alternative."""

    def fill(match: re.Match) -> str:
        converter = match.group(1) or "str"
        return ids["int"] if converter == "int" else ids.get(converter, "1")

    def fill_group(match: re.Match) -> str:
        pattern = match.group(1)
        candidates = (ids["int"], *pattern.split("|"), "x")
        return next(value for value in candidates if re.fullmatch(pattern, value))

    url = _PLACEHOLDER.sub(fill, _REGEX_GROUP.sub(fill_group, route))
    url = url.replace("^", "").replace("$", "").replace(".*", "anything").replace("\\.", ".")
    return "/" + url


def _back_office_routes():
    return sorted(
        {
            route
            for route, name, _view in url_patterns()
            if route.startswith(BACK_OFFICES) and name not in NOT_ASKED
        }
    )


@pytest.fixture(scope="module")
def _world(django_db_setup, django_db_blocker, tmp_path_factory):
    with made_once(django_db_blocker, tmp_path_factory.mktemp("world")):
        bill = BillFactory()
        page = Page.objects.get(depth=2)
        # Integers name the home page, Django admin's object ids the bill (as a string).
        yield {
            "ids": {"int": str(page.pk), "path": str(bill.pk)},
            "resident": UserFactory(),
            "staff_without_2fa": StaffUserFactory(),
        }


def _ask_every_route(
    client: Client, ids: dict, methods=("get", "post")
) -> dict[str, list[tuple[str, int, str]]]:
    """Each route asked with each method: (method and URL, status, where it sends) of every
    answer, grouped by kind of answer."""
    answers = {}
    for route in _back_office_routes():
        url = _url(route, ids)
        for method in methods:
            response = getattr(client, method)(url)
            where = response.get("Location", "")
            answers.setdefault(_kind(response.status_code, where), []).append(
                (f"{method.upper()} {url}", response.status_code, where)
            )
    return answers


def _kind(status: int, where: str) -> str:
    if status in (301, 302):
        path = where.split("?")[0]
        if path in (
            reverse("account_login"),
            reverse("wagtailadmin_login"),
            reverse("admin:login"),
        ):
            return "sign in"
        if path == reverse("mfa_activate_totp") or path == reverse("mfa_index"):
            return "set up two-factor"
        return "elsewhere"
    if status in (403, 404, 405):
        return "refused"
    return "a page" if status < 300 else "other"


def test_an_anonymous_visitor_is_sent_to_sign_in_or_refused(_world):
    before = database_state()

    answers = _ask_every_route(Client(), _world["ids"])

    assert set(answers) <= {"sign in", "refused"}, {
        kind: rows[:5] for kind, rows in answers.items() if kind not in ("sign in", "refused")
    }
    assert len(answers["sign in"]) > 400  # nearly every route: the check comes before the view
    assert tables_changed(before) == []


def test_a_signed_in_resident_is_refused_everywhere(_world):
    """Asked with POST, what could change something; GET meets the same check (the admins wrap
    every route in it, whatever the method), asked of anonymous visitors above."""
    client = Client()
    client.force_login(_world["resident"])
    before = database_state()

    answers = _ask_every_route(client, _world["ids"], methods=("post",))

    assert set(answers) <= {"sign in", "refused"}, {
        kind: rows[:5] for kind, rows in answers.items() if kind not in ("sign in", "refused")
    }
    assert tables_changed(before) == []


def test_staff_without_two_factor_are_sent_to_set_it_up_everywhere(_world):
    """Asked with GET only: the middleware that sends them does not look at the method."""
    client = Client()
    client.force_login(_world["staff_without_2fa"])
    before = database_state()

    answers = _ask_every_route(client, _world["ids"], methods=("get",))

    assert set(answers) <= {"set up two-factor", "refused"}, {
        kind: rows[:5]
        for kind, rows in answers.items()
        if kind not in ("set up two-factor", "refused")
    }
    assert len(answers["set up two-factor"]) > 250
    assert tables_changed(before) == []
