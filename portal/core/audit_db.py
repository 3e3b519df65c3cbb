"""The database side of the append-only audit log: the per-connection switch the triggers read.

Migration 0002 installs triggers that refuse UPDATE and DELETE on ``portal_auditevent`` (and
TRUNCATE on PostgreSQL). A test suite must still empty every table between transactional tests,
so the triggers let a connection through when it has been unlocked for maintenance:

- PostgreSQL: the trigger function allows the change when the session setting
  ``powerhall.audit_maintenance`` is ``'on'``.
- SQLite: the trigger calls ``powerhall_audit_unlocked()``, a function this module registers on
  each connection. A connection without it (the ``sqlite3`` shell, another program) fails with
  "no such function" and so is refused too.

A connection is unlocked when it opens if ``settings.AUDIT_ALLOW_MAINTENANCE`` is true, which only
the test suite sets. Anyone with SQL access can flip the PostgreSQL setting or drop the triggers:
they stop mistakes, not a database administrator. The HMAC chain is what detects tampering
(docs/audit.md).
"""

import weakref
from contextlib import contextmanager

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.signals import connection_created

AUDIT_TABLE = "portal_auditevent"
PG_MAINTENANCE_SETTING = "powerhall.audit_maintenance"
SQLITE_UNLOCK_FUNCTION = "powerhall_audit_unlocked"

# Stored on Django's DatabaseWrapper, so it lives and dies with the connection it describes.
_UNLOCKED_ATTR = "powerhall_audit_unlocked"


def install_connection_hooks() -> None:
    """Called from PortalConfig.ready(): prepare every new database connection."""
    connection_created.connect(_on_connection_created, dispatch_uid="powerhall.audit_db")


def _on_connection_created(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        # A weak reference: the raw sqlite3 connection must not keep Django's wrapper alive.
        wrapper = weakref.ref(connection)

        def unlocked() -> int:
            current = wrapper()
            return 1 if current is not None and getattr(current, _UNLOCKED_ATTR, False) else 0

        connection.connection.create_function(SQLITE_UNLOCK_FUNCTION, 0, unlocked)
    unlock = bool(getattr(settings, "AUDIT_ALLOW_MAINTENANCE", False))
    setattr(connection, _UNLOCKED_ATTR, False)
    if unlock:
        _set_unlocked(connection, True)


def _set_unlocked(connection, unlocked: bool) -> None:
    setattr(connection, _UNLOCKED_ATTR, unlocked)
    if connection.vendor == "postgresql":
        # A session setting (is_local=false). Django opens connections in autocommit mode, so when
        # this runs from connection_created it outlives every later transaction.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config(%s, %s, false)",
                [PG_MAINTENANCE_SETTING, "on" if unlocked else "off"],
            )


def audit_protection_unlocked(using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether the triggers currently let this connection change audit rows."""
    return bool(getattr(connections[using], _UNLOCKED_ATTR, False))


@contextmanager
def audit_protection_enforced(using: str = DEFAULT_DB_ALIAS):
    """Re-lock the audit table on this connection for the duration of the block.

    For tests, which run with ``AUDIT_ALLOW_MAINTENANCE = True`` so that flushes work. On
    PostgreSQL a refused statement aborts the transaction, so put it in its own
    ``transaction.atomic()`` inside this block; the setting can then be restored on exit.
    """
    connection = connections[using]
    connection.ensure_connection()
    previous = audit_protection_unlocked(using)
    _set_unlocked(connection, False)
    try:
        yield
    finally:
        if connection.connection is not None:
            _set_unlocked(connection, previous)


def audit_triggers(using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Names of the triggers on the audit table (audit_verify warns when they are missing)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                [AUDIT_TABLE],
            )
        elif connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger "
                "WHERE tgrelid = to_regclass(%s) AND NOT tgisinternal",
                [AUDIT_TABLE],
            )
        else:
            return []
        return sorted(row[0] for row in cursor.fetchall())


# What migration 0002 creates; audit_verify compares against these.
EXPECTED_TRIGGERS = {
    "sqlite": ["portal_auditevent_no_delete", "portal_auditevent_no_update"],
    "postgresql": [
        "portal_auditevent_no_truncate",
        "portal_auditevent_no_update_delete",
    ],
}
