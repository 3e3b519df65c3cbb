"""The site shell (header, menu, footer) that every page draws, and what it costs a signed-in
page: the navigation and the user links shown twice but rendered once, memberships asked for
once a request."""

import re
from uuid import uuid4

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.models import Membership
from tests.factories import MembershipFactory, OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db


def membership_queries(queries) -> int:
    table = Membership._meta.db_table
    return sum(1 for q in queries if f'FROM "{table}"' in q["sql"])


@pytest.fixture
def member(client):
    """A customer who is also a member of two organisations, signed in."""
    user = UserFactory()
    for name in ("乙公司", "甲公司"):
        MembershipFactory(user=user, organisation=OrganisationFactory(name=name))
    client.force_login(user)
    client.get(reverse("me:dashboard"))  # the session's first request records the device
    return user


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_header_and_menu_both_show_the_navigation_user_links_and_organisation_switch(
    client, member, language
):
    client.cookies["django_language"] = language
    page = client.get(reverse("me:bills")).content.decode()

    wide, menu = page.split('<details class="menu">')
    for part in (wide, menu):
        assert 'href="/pay/"' in part and 'href="/me/applications/"' in part
        assert f'href="{reverse("me:overview")}"' in part
        assert re.search(r'<svg class="icon icon--user"', part)
        assert "甲公司" in part and "乙公司" in part
    # Organisations in alphabetical order, and the person's own accounts current.
    assert wide.index("乙公司") < wide.index("甲公司")
    assert '<a class="lang-switch__option" href="/me/" aria-current="true">' in wide
    assert page.count('<svg class="icon icon--phone"') == 2  # topbar and footer


def test_dashboard_asks_for_the_memberships_once(client, member):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("me:dashboard"))

    assert len(response.context["memberships"]) == 2
    assert membership_queries(queries.captured_queries) == 1


def test_an_organisation_page_asks_for_the_memberships_once(client, member):
    organisation = member.memberships.first().organisation
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("org:accounts", kwargs={"org": organisation.uuid}))

    assert response.status_code == 200
    assert membership_queries(queries.captured_queries) == 1


def test_an_organisation_of_which_one_is_not_a_member_is_not_found(client, member):
    stranger = OrganisationFactory(name="丙公司")

    response = client.get(reverse("org:accounts", kwargs={"org": stranger.uuid}))

    assert response.status_code == 404


def test_every_row_of_a_table_links_to_its_own_page(client, member):
    """The tables reverse a row's URL once and put each row's uuid in it (shell's with_uuid)."""
    from django.template import Context, Template

    url = Template(
        "{% load shell %}{% url 'bills:detail' bill='00000000-0000-0000-0000-000000000000' "
        "as bill_url %}{% for uuid in uuids %}{{ bill_url|with_uuid:uuid }} {% endfor %}"
    )
    uuids = [uuid4(), uuid4()]

    rendered = url.render(Context({"uuids": uuids})).split()

    assert rendered == [reverse("bills:detail", kwargs={"bill": u}) for u in uuids]
