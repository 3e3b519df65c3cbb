"""A session's "last seen" (Account → Sessions) is written at most once per interval, not on every
request (portal.middleware.UserSessionActivityMiddleware)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from allauth.usersessions.models import UserSession
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def writes_to_user_sessions(queries) -> int:
    table = UserSession._meta.db_table
    return sum(
        1
        for query in queries
        if table in query["sql"] and query["sql"].lstrip().upper().startswith(("UPDATE", "INSERT"))
    )


def visit(client, path=None, **extra) -> int:
    """Open a signed-in page; how many writes to the session list it cost."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path or reverse("me:overview"), **extra).status_code == 200
    return writes_to_user_sessions(queries.captured_queries)


@pytest.fixture
def browser(settings):
    settings.SESSION_ACTIVITY_WRITE_SECONDS = 300
    with time_machine.travel(START, tick=False) as traveller:
        client = Client(HTTP_USER_AGENT="Firefox", REMOTE_ADDR="203.0.113.7")
        client.force_login(UserFactory())
        yield client, traveller


def test_two_requests_in_a_row_write_last_seen_once(browser):
    client, _ = browser

    assert visit(client) == 1
    assert visit(client) == 0
    assert visit(client) == 0

    row = UserSession.objects.get(session_key=client.session.session_key)
    assert row.last_seen_at == START
    assert row.ip == "203.0.113.7"


def test_a_request_after_the_interval_writes_last_seen_again(browser):
    client, traveller = browser
    visit(client)

    traveller.move_to(START + timedelta(minutes=4))
    assert visit(client) == 0
    traveller.move_to(START + timedelta(minutes=5, seconds=1))
    assert visit(client) == 1
    assert visit(client) == 0

    row = UserSession.objects.get(session_key=client.session.session_key)
    assert row.last_seen_at == START + timedelta(minutes=5, seconds=1)


def test_a_new_address_or_browser_is_written_at_once(browser):
    client, traveller = browser
    visit(client)
    traveller.move_to(START + timedelta(minutes=1))

    assert visit(client, REMOTE_ADDR="198.51.100.9") == 1
    assert visit(client, REMOTE_ADDR="198.51.100.9") == 0
    assert visit(client, REMOTE_ADDR="198.51.100.9", HTTP_USER_AGENT="Safari") == 1

    row = UserSession.objects.get(session_key=client.session.session_key)
    assert (row.ip, row.user_agent) == ("198.51.100.9", "Safari")


def test_the_sessions_page_lists_the_session_and_ends_the_others(browser):
    client, _ = browser
    visit(client)
    other = Client(HTTP_USER_AGENT="Edge", REMOTE_ADDR="192.0.2.44")
    other.force_login(UserSession.objects.get().user)
    visit(other)

    page = client.get(reverse("usersessions_list"))
    assert page.status_code == 200
    sessions = page.context["sessions"]
    assert {s.ip for s in sessions} == {"203.0.113.7", "192.0.2.44"}
    assert page.context["show_last_seen_at"]
    assert "192.0.2.44" in page.content.decode()

    client.post(reverse("usersessions_list"))

    assert other.get(reverse("me:overview")).status_code == 302  # signed out
    assert [s.ip for s in UserSession.objects.all()] == ["203.0.113.7"]


def test_anonymous_visitors_write_nothing(client):
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("account_login"))
    assert writes_to_user_sessions(queries.captured_queries) == 0
