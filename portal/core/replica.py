"""Reads that may lag, from a PostgreSQL read replica (docs/operations.md, "Read replica").

With ``READ_REPLICA_URL`` set, settings add the database alias ``replica`` and
``ReadReplicaRouter`` decides, query by query, where a read goes. A read goes to the replica only
when all of these hold; anything else, and every write, goes to the primary (``default``):

- the view said its reads may lag (``@reads_may_lag``: bill lists, the notice list and feeds, the
  organisation's accounts table, the manager's dashboard) and the request is a GET or HEAD;
- the browser has not just changed something: after a POST (or another unsafe method) that
  wrote, ``portal.middleware.ReadReplicaPinMiddleware`` sets a cookie that keeps that browser on
  the primary for ``READ_REPLICA_MAX_LAG_SECONDS`` (it reads its own writes);
- the primary connection is not inside a transaction (a transaction reads what it wrote), and
  nothing earlier in the same view wrote or read inside one;
- the model is not one whose reads must be current (``keep_on_primary``: sessions, and what
  fills a cache that a change empties, whose stale read would outlive the lag);
- no ``reads_from_primary()`` block is open (the anonymous page cache stores what it renders
  under a generation the primary just changed: it must render from the primary);
- the replica answers, and is at most ``READ_REPLICA_MAX_LAG_SECONDS`` behind.

The first read of a view decides and the rest of the view follows: its reads never move from
the primary back to the replica, so nothing it reads later is older than what it read before
(portal/fragments.py relies on that). A replica that cannot be reached costs one connection
timeout per process: it is then left alone for ``READ_REPLICA_RETRY_SECONDS``, with one warning
when it goes and one info line when it is back. Its lag is asked at most every
``READ_REPLICA_LAG_CHECK_SECONDS`` per process.
"""

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpRequest
from django.template.response import SimpleTemplateResponse

log = logging.getLogger("powerhall.replica")

REPLICA = "replica"
SAFE_METHODS = frozenset({"GET", "HEAD"})
# Set after a request that changed something: that browser reads from the primary for a while.
PIN_COOKIE = "read-primary"

# Models read from the primary even where reads may lag (``keep_on_primary``), by label_lower.
_always_primary: set[str] = {
    # A session not yet on the replica would sign its owner out (and be replaced on save).
    "sessions.session",
    "usersessions.usersession",
}


def keep_on_primary(*labels: str) -> None:
    """Always read these models (``app_label.modelname``) from the primary. For what decides
    access, and for what fills a cache that a change empties: a read from a replica that has not
    replayed the change yet would put the old value back for the cache's whole timeout."""
    _always_primary.update(label.lower() for label in labels)


def configured() -> bool:
    """Whether settings name a replica (``READ_REPLICA_URL``)."""
    return REPLICA in connections.settings


# --- Where this request stands --------------------------------------------------------------------
@dataclass
class _Scope:
    """A view whose reads may lag. ``alias``: where its reads go, once the first one decided."""

    alias: str | None = None


@dataclass
class _Writes:
    wrote: bool = False


# Context variables, reset when the block that set them ends: a thread serves one request after
# another, and nothing of one may leak into the next.
_scope: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar(
    "powerhall_lagging_reads", default=None
)
_primary_only: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "powerhall_primary_reads", default=False
)
_writes: contextvars.ContextVar[_Writes | None] = contextvars.ContextVar(
    "powerhall_request_writes", default=None
)


@contextmanager
def lagging_reads(request: HttpRequest) -> Iterator[None]:
    """Let the reads of this block go to the replica, if the request allows it (module
    docstring). A block inside another belongs to the outer one."""
    if (
        _scope.get() is not None
        or not configured()
        or request.method not in SAFE_METHODS
        or PIN_COOKIE in request.COOKIES
    ):
        yield
        return
    token = _scope.set(_Scope())
    try:
        yield
    finally:
        _scope.reset(token)


def reads_may_lag[V: Callable](view: V) -> V:
    """Decorate a view (or a Wagtail page's ``serve``) whose reads may be a few seconds old:
    on GET and HEAD they may come from the read replica. Put it below the decorators that
    decide access (``login_required``, ``org_member_required``): those read the primary.

    A TemplateResponse is rendered before the block ends, so the template's reads are the view's.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        request = next(arg for arg in args if isinstance(arg, HttpRequest))
        with lagging_reads(request):
            response = view(*args, **kwargs)
            if isinstance(response, SimpleTemplateResponse) and not response.is_rendered:
                response.render()
        return response

    return wrapper


@contextmanager
def reads_from_primary() -> Iterator[None]:
    """Every read of this block goes to the primary, even inside ``reads_may_lag``."""
    token = _primary_only.set(True)
    try:
        yield
    finally:
        _primary_only.reset(token)


@contextmanager
def writes_watched() -> Iterator[_Writes]:
    """``.wrote`` tells, after the block, whether it wrote through the router."""
    writes = _Writes()
    token = _writes.set(writes)
    try:
        yield writes
    finally:
        _writes.reset(token)


def pin_to_primary(response) -> None:
    """Keep the browser that gets ``response`` on the primary for a while (it has just changed
    something and expects to see it). The cookie carries no data: it only says "not yet"."""
    response.set_cookie(
        PIN_COOKIE,
        "1",
        max_age=max(settings.READ_REPLICA_MAX_LAG_SECONDS, 1),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


# --- The replica's health, per process ------------------------------------------------------------
class _Health:
    def __init__(self):
        self.lock = threading.Lock()
        self.down_until = 0.0  # time.monotonic(): a duration, not business time
        self.down = False
        self.lag_checked_at: float | None = None
        self.lag_ok = True


_health = _Health()


def reset_health() -> None:
    """Forget what this process knows of the replica (tests; settings changed)."""
    global _health
    _health = _Health()


def _primary_position() -> str:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_flush_lsn()")
        return cursor.fetchone()[0]


def _lag_behind(primary_position: str) -> float | None:
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(
            "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() >= %s::pg_lsn,"
            " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())",
            [primary_position],
        )
        in_recovery, caught_up, age = cursor.fetchone()
    if not in_recovery or caught_up:
        return 0.0
    return None if age is None else max(float(age), 0.0)


def replica_lag_seconds() -> float | None:
    """How far the replica is behind the primary, in seconds.

    0 when it has replayed everything the primary had written (flushed) a moment before, or is
    no standby at all. Otherwise the age of the last transaction it replayed; after the primary
    was idle, its next commit makes that overstate the lag until it is replayed, which only
    keeps reads on the primary a little longer. The age alone would be wrong the other way: on
    an idle primary the last replayed transaction grows old while the replica is fully caught
    up, hence the comparison of WAL positions first. None: it has replayed nothing since it
    started. (The age is measured on the replica's clock against the primary's commit times:
    keep the two machines' clocks in step.)
    """
    return _lag_behind(_primary_position())


def _lag_verdict(now: float, lag: float | None) -> bool:
    limit = settings.READ_REPLICA_MAX_LAG_SECONDS
    ok = lag is not None and lag <= limit
    health = _health
    with health.lock:
        if health.lag_ok and not ok:
            if lag is None:
                log.warning("read replica has replayed nothing yet: its reads go to the primary")
            else:
                log.warning(
                    "read replica is %.1f s behind (at most %s s): its reads go to the primary",
                    lag,
                    limit,
                )
        elif ok and not health.lag_ok:
            log.info("read replica has caught up (%.1f s behind): reads go to it again", lag)
        health.lag_checked_at, health.lag_ok = now, ok
    return ok


def _replica_usable() -> bool:
    """Whether the replica answers and is recent enough. When it cannot be reached, leave it
    alone for READ_REPLICA_RETRY_SECONDS: one connection timeout per process per period."""
    health = _health
    now = time.monotonic()
    if now < health.down_until:
        return False
    lag_due = (
        health.lag_checked_at is None
        or now - health.lag_checked_at >= settings.READ_REPLICA_LAG_CHECK_SECONDS
    )
    # Read before the replica's position, and outside the try: a failing primary is not the
    # replica's fault (and fails the request anyway).
    primary_position = _primary_position() if lag_due else None
    try:
        # The connection kept since an earlier request may have died with the server: check it
        # now (Django would only at the first query, too late to choose the primary instead),
        # then open one if there is none.
        connections[REPLICA].close_if_health_check_failed()
        connections[REPLICA].ensure_connection()
        lag = _lag_behind(primary_position) if lag_due else None
    except DatabaseError as error:
        with suppress(DatabaseError):
            connections[REPLICA].close()
        with health.lock:
            health.down_until = now + settings.READ_REPLICA_RETRY_SECONDS
            if not health.down:
                log.warning(
                    "read replica unreachable, its reads go to the primary; trying again in"
                    " %s s: %s",
                    settings.READ_REPLICA_RETRY_SECONDS,
                    (str(error).strip().splitlines() or [type(error).__name__])[0],
                )
            health.down = True
        return False
    if health.down:
        with health.lock:
            if health.down:
                log.info("read replica reachable again")
            health.down = False
    return _lag_verdict(now, lag) if lag_due else health.lag_ok


def _read_alias(model) -> str:
    scope = _scope.get()
    if scope is None or scope.alias == DEFAULT_DB_ALIAS or _primary_only.get():
        return DEFAULT_DB_ALIAS
    if model._meta.label_lower in _always_primary:
        return DEFAULT_DB_ALIAS
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        # A transaction reads what it wrote; and from now on this view stays on the primary, so
        # nothing it reads later is older than what it read in the transaction.
        scope.alias = DEFAULT_DB_ALIAS
        return DEFAULT_DB_ALIAS
    if scope.alias is None:
        scope.alias = REPLICA if _replica_usable() else DEFAULT_DB_ALIAS
    return scope.alias


class ReadReplicaRouter:
    """``DATABASE_ROUTERS``. Without a replica every answer is ``default``: the same code runs
    with one database or two."""

    def db_for_read(self, model, **hints):
        return _read_alias(model)

    def db_for_write(self, model, **hints):
        scope = _scope.get()
        if scope is not None:
            scope.alias = DEFAULT_DB_ALIAS  # the view reads its own write from here on
        writes = _writes.get()
        if writes is not None:
            writes.wrote = True
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # The replica holds the primary's rows: an object read there may point at one read here.
        aliases = {DEFAULT_DB_ALIAS, REPLICA}
        if obj1._state.db in aliases and obj2._state.db in aliases:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # A standby replays the primary's migrations; nothing is ever run on it.
        return False if db == REPLICA else None
