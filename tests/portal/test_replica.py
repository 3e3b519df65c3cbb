"""The read replica (portal/core/replica.py, docs/operations.md "Read replica"): which reads go
there, that nothing else ever does, and what happens when it is away or behind.

On SQLite there is no replica: every page works and everything goes to the primary. On
PostgreSQL the alias ``replica`` is the one settings make from READ_REPLICA_URL; when that is not
set (CI's PostgreSQL run), this module adds it for its own tests, pointed at the test database as
``TEST["MIRROR"]`` would: a second, read-only connection to the same data, so what was read where
is told apart by the connection that ran it. The tests that need a real standby (replication, lag)
run when READ_REPLICA_URL points at one (``scripts/pg-replica start``), and are skipped otherwise:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/powerhall \\
    READ_REPLICA_URL=postgres://postgres@127.0.0.1:5433/powerhall \\
      .venv/bin/python -m pytest -n 0 tests/portal/test_replica.py

Every test here commits (``transaction=True``): in a test that runs inside one transaction, the
primary is always inside a transaction, so the router rightly never sends anything to the replica.
"""

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, router, transaction
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payments.models import Bill
from portal.core import clock, replica
from portal.core.replica import REPLICA, lagging_reads, reads_may_lag
from portal.settings.env import replica_database
from tests.cms.notices import beijing, notice_publish
from tests.factories import (
    BillFactory,
    BindingFactory,
    MemberScopeFactory,
    MembershipFactory,
    OrgBindingFactory,
    ServiceAccountFactory,
)

ROOT = Path(__file__).resolve().parents[2]
POSTGRESQL_ONLY = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a read replica is a PostgreSQL standby"
)
pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


# --- The alias and the replica's state ------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def _replica_alias(django_db_setup):
    """On PostgreSQL without READ_REPLICA_URL: the alias settings would make, pointed at this
    run's test database (what TEST["MIRROR"] does when settings define it), for this module."""
    default = connections[DEFAULT_DB_ALIAS].settings_dict
    if replica.configured() or connection.vendor != "postgresql":
        yield
        return
    alias = replica_database(os.environ["DATABASE_URL"], primary=default)
    alias["NAME"] = default["NAME"]
    connections.settings[REPLICA] = alias
    connections.configure_settings(connections.settings)  # Django's defaults for the new alias
    try:
        yield
    finally:
        connections[REPLICA].close()
        del connections[REPLICA]
        del connections.settings[REPLICA]


@pytest.fixture(autouse=True)
def _fresh_replica_state():
    """What a process knows of the replica (down, behind) starts afresh in every test."""
    replica.reset_health()
    yield
    replica.reset_health()
    if replica.configured():
        connections[REPLICA].close()


def is_standby() -> bool:
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        return cursor.fetchone()[0]


@pytest.fixture
def standby():
    """READ_REPLICA_URL points at a streaming standby (scripts/pg-replica start)."""
    if connection.vendor != "postgresql" or not is_standby():
        pytest.skip("READ_REPLICA_URL does not point at a streaming standby")


def replayed() -> None:
    """Wait until the replica has replayed everything committed so far: at once on the test
    database's mirror, a moment on a real standby (other WAL the primary writes meanwhile, of
    other databases, is not waited for)."""
    if not is_standby():
        return
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_flush_lsn()")
        (position,) = cursor.fetchone()
    deadline = time.monotonic() + 30
    while True:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [position])
            if cursor.fetchone()[0]:
                return
        assert time.monotonic() < deadline, "the standby did not replay within 30 s"
        time.sleep(0.05)


@contextlib.contextmanager
def captured():
    """The statements the primary and the replica ran in the block."""
    with (
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary,
        CaptureQueriesContext(connections[REPLICA]) as standby,
    ):
        yield primary, standby


def statements(queries) -> list[str]:
    return [query["sql"] for query in queries.captured_queries]


def reading(queries, table: str) -> bool:
    return any(f'"{table}"' in sql for sql in statements(queries))


def only_selects(queries) -> bool:
    return all(sql.lstrip().upper().startswith("SELECT") for sql in statements(queries))


@contextlib.contextmanager
def replica_at(port: int):
    """The replica's address changed to 127.0.0.1:``port`` for the block."""
    settings_dict = connections.settings[REPLICA]
    before = settings_dict["HOST"], settings_dict["PORT"]
    connections[REPLICA].close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", port
    try:
        yield
    finally:
        connections[REPLICA].close()
        settings_dict["HOST"], settings_dict["PORT"] = before


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def counting_listener():
    """A port where something accepts connections, counts them and hangs up: a server that is
    not PostgreSQL (or a replica dying as it is reached). Yields the port and the list of
    attempts."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    attempts: list[int] = []
    done = threading.Event()

    def serve():
        while not done.is_set():
            try:
                accepted, _address = server.accept()
            except TimeoutError:
                continue
            attempts.append(1)
            accepted.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], attempts
    finally:
        done.set()
        thread.join()
        server.close()


def replica_log(caplog, level) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "powerhall.replica" and r.levelno == level
    ]


# --- Data -----------------------------------------------------------------------------------------
@pytest.fixture
def bill():
    """A resident's bill, issued today."""
    binding = BindingFactory(label="家", account=ServiceAccountFactory(number="3100000701"))
    today = clock.today()
    return BillFactory(
        number="B-REPLICA-1",
        account=binding.account,
        period_start=today - timedelta(days=40),
        period_end=today - timedelta(days=10),
        issue_date=today,
        due_date=today + timedelta(days=15),
    )


@pytest.fixture
def resident(client, bill):
    client.force_login(bill.account.bindings.get().user)
    return client


def bills_url() -> str:
    return reverse("me:bills")


def bill_list(client):
    """The bill list, read afresh: the per-person fragment cache would otherwise answer a
    second view of the same list without reading the bills."""
    cache.clear()
    return client.get(bills_url())


@pytest.fixture
def notice():
    # Two weeks ahead of whatever today is: a planned outage announced in good time.
    day = clock.today() + timedelta(days=14)
    return notice_publish(
        title="浦东新区计划停电检修通知",
        districts=["浦东新区"],
        starts_at=beijing(day.year, day.month, day.day, 8, 0),
        ends_at=beijing(day.year, day.month, day.day, 17, 30),
        reason="线路检修",
    )


# --- Without a replica ----------------------------------------------------------------------------
def test_without_a_replica_every_page_reads_from_the_primary(resident, notice, settings):
    if replica.configured():
        pytest.skip("a replica is configured")
    settings.PAGE_CACHE_SECONDS = 0
    request = RequestFactory().get("/")

    with lagging_reads(request):
        assert router.db_for_read(Bill) == DEFAULT_DB_ALIAS
    assert "B-REPLICA-1" in resident.get(bills_url()).content.decode()
    assert notice.title in resident.get("/notices/").content.decode()
    assert notice.title in resident.get(reverse("cms:notice_feed")).content.decode()
    # A change is no reason for a cookie when there is only one database.
    binding = Bill.objects.get().account.bindings.get()
    answer = resident.post(
        reverse("me:relabel", kwargs={"binding": binding.uuid}), {"label": "老家"}
    )
    assert answer.status_code == 302
    assert replica.PIN_COOKIE not in answer.cookies


# --- Settings -------------------------------------------------------------------------------------
def _settings_of(env: dict) -> subprocess.CompletedProcess:
    """``manage.py shell`` in a clean environment plus ``env``, printing the replica's settings."""
    code = (
        "import json; from django.conf import settings as s;"
        " print(json.dumps({'replica': s.DATABASES.get('replica'), 'routers': s.DATABASE_ROUTERS}))"
    )
    keep = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "READ_REPLICA_URL"}}
    keep.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**keep, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.any_date
def test_a_replica_url_beside_a_sqlite_primary_is_refused(tmp_path):
    result = _settings_of(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "READ_REPLICA_URL": "postgres://reader@replica.internal:5432/powerhall",
        }
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "READ_REPLICA_URL needs DATABASE_URL to point at PostgreSQL" in result.stderr


@pytest.mark.any_date
def test_the_replica_is_read_only_gives_up_connecting_quickly_and_mirrors_the_test_database():
    result = _settings_of(
        {
            "DATABASE_URL": "postgres://powerhall@db.internal:5432/powerhall",
            "READ_REPLICA_URL": "postgres://reader@replica.internal:5432/powerhall",
        }
    )

    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    alias = found["replica"]
    assert (alias["HOST"], alias["USER"], alias["NAME"]) == (
        "replica.internal",
        "reader",
        "powerhall",
    )
    assert alias["OPTIONS"] == {
        "connect_timeout": 2,
        "options": "-c default_transaction_read_only=on",
    }
    assert alias["CONN_HEALTH_CHECKS"] is True
    assert alias["TEST"]["MIRROR"] == "default"
    assert found["routers"] == ["portal.core.replica.ReadReplicaRouter"]


@pytest.mark.any_date
def test_without_a_replica_url_there_is_no_replica_but_the_router_is_there(tmp_path):
    result = _settings_of({"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})

    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {"replica": None, "routers": ["portal.core.replica.ReadReplicaRouter"]}


# --- What goes to the replica ---------------------------------------------------------------------
@POSTGRESQL_ONLY
def test_the_bill_list_reads_its_bills_from_the_replica_and_every_write_goes_to_the_primary(
    resident,
):
    replayed()

    # The first page after signing in also writes: the session's "last seen" row and the session.
    with captured() as (primary, standby):
        page = resident.get(bills_url())

    assert page.status_code == 200
    assert "B-REPLICA-1" in page.content.decode()
    assert reading(standby, "payments_bill")
    assert not reading(primary, "payments_bill")
    assert only_selects(standby), statements(standby)
    writes = [sql for sql in statements(primary) if sql.lstrip().startswith(("INSERT", "UPDATE"))]
    assert any("usersessions_usersession" in sql for sql in writes)
    assert any("django_session" in sql for sql in writes)


@POSTGRESQL_ONLY
@pytest.mark.parametrize("method", ["post", "put"])
def test_other_methods_on_the_same_views_read_from_the_primary(resident, notice, method):
    replayed()

    with captured() as (primary, standby):
        # Wagtail serves a page to any method; the bill list answers only GET and HEAD.
        notices = getattr(resident, method)("/notices/")
        bills = getattr(resident, method)(bills_url())

    assert notices.status_code == 200
    assert notice.title in notices.content.decode()
    assert bills.status_code == 405
    assert statements(standby) == []
    assert reading(primary, "cms_noticepage")


@POSTGRESQL_ONLY
def test_pages_that_did_not_say_their_reads_may_lag_read_from_the_primary(resident):
    replayed()

    with captured() as (primary, standby):
        dashboard = resident.get(reverse("me:dashboard"))
        bill_page = resident.get(reverse("bills:detail", kwargs={"bill": Bill.objects.get().uuid}))

    assert dashboard.status_code == bill_page.status_code == 200
    assert "B-REPLICA-1" in bill_page.content.decode()
    assert statements(standby) == []
    assert reading(primary, "payments_bill")


@POSTGRESQL_ONLY
def test_each_page_that_may_lag_reads_from_the_replica(client, notice, settings, service_staff):
    """The organisation's accounts table and bills, the notice list, both feeds, the manager's
    dashboard (the bill list has its own test above)."""
    settings.PAGE_CACHE_SECONDS = 0  # else anonymous pages render from the primary (see below)
    membership = MembershipFactory(role="member")
    MemberScopeFactory(
        membership=membership,
        binding=OrgBindingFactory(
            organisation=membership.organisation,
            account=ServiceAccountFactory(number="3100000702", district="浦东新区"),
        ),
    )
    organisation = membership.organisation.uuid
    staff_pages = [reverse("applications_dashboard")]
    member_pages = [
        reverse("org:accounts", kwargs={"org": organisation}),
        reverse("org:bills", kwargs={"org": organisation}),
        "/notices/",
        reverse("cms:notice_feed"),
        reverse("cms:outage_calendar"),
    ]
    replayed()

    # The service_staff fixture signed the client in as staff: a change, after which the browser
    # reads from the primary for a while. That while is over.
    client.cookies.pop(replica.PIN_COOKIE, None)
    for url in staff_pages:
        with captured() as (_primary, standby):
            assert client.get(url).status_code == 200, url
        assert statements(standby) and only_selects(standby), url
    client.force_login(membership.user)
    for url in member_pages:
        with captured() as (_primary, standby):
            assert client.get(url).status_code == 200, url
        assert statements(standby) and only_selects(standby), url


@POSTGRESQL_ONLY
def test_the_anonymous_page_cache_stores_only_pages_read_from_the_primary(client, notice):
    """Its generation does not come from the database: a page read from a replica that has not
    replayed a publication yet would be kept, stale, under the generation that publication made."""
    replayed()

    with captured() as (primary, standby):
        anonymous = client.get("/notices/")

    assert anonymous["X-Page-Cache"] == "miss"
    assert notice.title in anonymous.content.decode()
    assert statements(standby) == []
    assert reading(primary, "cms_noticepage")


@POSTGRESQL_ONLY
def test_inside_a_view_a_transaction_or_a_write_keeps_the_rest_of_it_on_the_primary(bill):
    replayed()
    seen = {}

    @reads_may_lag
    def view(request):
        seen["first"] = router.db_for_read(Bill)
        with transaction.atomic():
            seen["in a transaction"] = router.db_for_read(Bill)
        seen["after it"] = router.db_for_read(Bill)
        return HttpResponse()

    @reads_may_lag
    def writing_view(request):
        seen["before writing"] = router.db_for_read(Bill)
        Bill.objects.filter(pk=bill.pk).update(kwh=bill.kwh)
        seen["after writing"] = router.db_for_read(Bill)
        return HttpResponse()

    view(RequestFactory().get("/"))
    writing_view(RequestFactory().get("/"))

    assert seen == {
        "first": REPLICA,
        "in a transaction": DEFAULT_DB_ALIAS,
        "after it": DEFAULT_DB_ALIAS,
        "before writing": REPLICA,
        "after writing": DEFAULT_DB_ALIAS,
    }


@POSTGRESQL_ONLY
def test_sessions_are_never_read_from_the_replica(bill):
    from django.contrib.sessions.models import Session

    replayed()
    with lagging_reads(RequestFactory().get("/")):
        assert router.db_for_read(Session) == DEFAULT_DB_ALIAS
        assert router.db_for_read(Bill) == REPLICA


def test_writes_and_migrations_never_go_to_the_replica():
    with lagging_reads(RequestFactory().get("/")):
        assert router.db_for_write(Bill) == DEFAULT_DB_ALIAS
    assert router.allow_migrate(REPLICA, "payments", model_name="bill") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "payments", model_name="bill") is True


@POSTGRESQL_ONLY
def test_after_a_change_the_browser_reads_from_the_primary_for_a_while(resident, settings):
    """A person who has just changed something and opens a list sees the change, however far
    behind the replica is."""
    settings.READ_REPLICA_MAX_LAG_SECONDS = 10
    resident.get(bills_url())  # the session's "last seen" written: not a change of theirs
    assert replica.PIN_COOKIE not in resident.cookies
    binding = Bill.objects.get().account.bindings.get()

    changed = resident.post(
        reverse("me:relabel", kwargs={"binding": binding.uuid}), {"label": "老家"}
    )
    with captured() as (primary, standby):
        page = resident.get(bills_url())

    cookie = changed.cookies[replica.PIN_COOKIE]
    assert cookie["max-age"] == 10 and cookie["httponly"]
    assert "老家" in page.content.decode()
    assert statements(standby) == []
    assert reading(primary, "payments_bill")

    del resident.cookies[replica.PIN_COOKIE]  # ten seconds later, the browser has dropped it
    replayed()
    with captured() as (primary, standby):
        bill_list(resident)
    assert reading(standby, "payments_bill")


# --- When the replica is away ---------------------------------------------------------------------
@POSTGRESQL_ONLY
def test_with_the_replica_on_a_closed_port_the_page_comes_from_the_primary(resident, caplog):
    caplog.set_level(logging.INFO, logger="powerhall.replica")

    with replica_at(closed_port()):
        first = resident.get(bills_url())
        second = resident.get(bills_url(), {"status": "unpaid"})

    assert first.status_code == second.status_code == 200
    assert "B-REPLICA-1" in first.content.decode()
    assert "B-REPLICA-1" in second.content.decode()
    warnings = replica_log(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert (
        "read replica unreachable, its reads go to the primary; trying again in 30 s"
        in (warnings[0])
    )


@POSTGRESQL_ONLY
def test_a_replica_that_cannot_be_reached_is_tried_once_per_period(resident, settings, caplog):
    caplog.set_level(logging.INFO, logger="powerhall.replica")
    settings.READ_REPLICA_RETRY_SECONDS = 60

    with counting_listener() as (port, attempts), replica_at(port):
        first = resident.get(bills_url())
        after_first = len(attempts)
        second = resident.get(bills_url(), {"status": "unpaid"})
        after_second = len(attempts)

    assert first.status_code == second.status_code == 200
    assert "B-REPLICA-1" in second.content.decode()
    assert after_first >= 1
    assert after_second == after_first  # no new connection within the period
    assert len(replica_log(caplog, logging.WARNING)) == 1


@POSTGRESQL_ONLY
def test_without_a_period_each_request_tries_again_and_one_back_it_is_used_again(
    resident, settings, caplog
):
    caplog.set_level(logging.INFO, logger="powerhall.replica")
    settings.READ_REPLICA_RETRY_SECONDS = 0

    with counting_listener() as (port, attempts), replica_at(port):
        resident.get(bills_url())
        after_first = len(attempts)
        assert resident.get(bills_url(), {"status": "unpaid"}).status_code == 200
        after_second = len(attempts)

    assert after_second > after_first >= 1
    assert len(replica_log(caplog, logging.WARNING)) == 1  # one outage, one warning

    # Back at its address, it is used again, and the log says so once.
    replayed()
    with captured() as (_primary, standby):
        assert bill_list(resident).status_code == 200
    assert reading(standby, "payments_bill")
    assert replica_log(caplog, logging.INFO) == ["read replica reachable again"]


@POSTGRESQL_ONLY
def test_a_kept_connection_to_a_replica_gone_since_the_last_request_falls_back(resident, caplog):
    caplog.set_level(logging.INFO, logger="powerhall.replica")
    replayed()
    with captured() as (_primary, standby):
        bill_list(resident)
    assert reading(standby, "payments_bill")
    kept = connections[REPLICA]
    assert kept.connection is not None  # kept for the next request (CONN_MAX_AGE)

    # Between two requests the replica's server ends that connection and is gone from its port.
    settings_dict = connections.settings[REPLICA]
    with psycopg.connect(
        host=settings_dict["HOST"],
        port=settings_dict["PORT"],
        user=settings_dict["USER"],
        dbname=settings_dict["NAME"],
        autocommit=True,
    ) as other:
        pid = kept.connection.info.backend_pid
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        while other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
            time.sleep(0.01)  # the backend ends a moment after it was told to
    address = settings_dict["PORT"]
    settings_dict["PORT"] = closed_port()
    # What Django does at the start of every request, which the test client leaves out: the kept
    # connection is to be checked again before it is used.
    kept.close_if_unusable_or_obsolete()
    try:
        page = bill_list(resident)
    finally:
        kept.close()
        settings_dict["PORT"] = address

    assert page.status_code == 200
    assert "B-REPLICA-1" in page.content.decode()
    assert len(replica_log(caplog, logging.WARNING)) == 1


@POSTGRESQL_ONLY
def test_a_write_sent_to_the_replica_by_mistake_is_refused(bill):
    """The router never does; code that names the alias itself is refused by the server (a
    standby is read-only, and the connection asks for read-only transactions anyway)."""
    with pytest.raises(DatabaseError, match="read-only transaction"):
        Bill.objects.using(REPLICA).filter(pk=bill.pk).update(kwh=bill.kwh + 1)


# --- A real standby -------------------------------------------------------------------------------
@POSTGRESQL_ONLY
def test_a_write_through_the_router_never_reaches_the_standby_and_a_read_does(standby, bill):
    request = RequestFactory().get("/")

    with lagging_reads(request), captured() as (primary, standby_queries):
        Bill.objects.filter(pk=bill.pk).update(kwh=321)
    assert any(sql.startswith("UPDATE") for sql in statements(primary))
    assert statements(standby_queries) == []

    replayed()
    with lagging_reads(request), captured() as (primary, standby_queries):
        kwh = Bill.objects.get(pk=bill.pk).kwh
    assert kwh == 321  # replicated from the primary
    assert reading(standby_queries, "payments_bill")
    assert not reading(primary, "payments_bill")
    assert only_selects(standby_queries)


@POSTGRESQL_ONLY
def test_a_standby_further_behind_than_allowed_is_skipped_until_it_catches_up(
    standby, resident, settings, caplog
):
    caplog.set_level(logging.INFO, logger="powerhall.replica")
    settings.READ_REPLICA_LAG_CHECK_SECONDS = 0  # ask at every request, not every few seconds
    settings.READ_REPLICA_MAX_LAG_SECONDS = 0  # any lag at all is too much
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")
    try:
        late = BillFactory(number="B-REPLICA-LATE", account=Bill.objects.get().account)
        with captured() as (primary, standby_queries):
            behind = resident.get(bills_url())
        assert late.number in behind.content.decode()  # read from the primary
        assert not reading(standby_queries, "payments_bill")
        assert reading(primary, "payments_bill")
    finally:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT pg_wal_replay_resume()")

    replayed()
    settings.READ_REPLICA_MAX_LAG_SECONDS = 10  # others' WAL on this server keeps it a hair behind
    with captured() as (primary, standby_queries):
        caught_up = bill_list(resident)
    assert late.number in caught_up.content.decode()
    assert reading(standby_queries, "payments_bill")
    assert any("behind (at most 0 s)" in m for m in replica_log(caplog, logging.WARNING))
    assert any("caught up" in m for m in replica_log(caplog, logging.INFO))
