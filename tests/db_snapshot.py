"""A migrated test database, kept for the next test run (tests/conftest.py, ``django_db_setup``).

Migrating an empty database takes 30-40 s of CPU on these machines, nearly all of it Django
rendering model states through 235 migrations (Wagtail's most of them), and every test run did
it once per test worker: CI three times over, a developer at every `make test`. The first run
keeps what ``migrate`` made; a later run whose migrations and code are the same copies it instead:

- SQLite: a copy of the database file in ``var/test-db/`` (SQLite's backup API, into the test
  worker's in-memory database);
- PostgreSQL: a template database on the server, ``powerhall_tmpl_<key>``; each worker's test
  database is made with ``CREATE DATABASE … TEMPLATE``.

The key is a hash of the locked dependencies and of every file of the four apps (migrations, and
the code and data the data migrations read): any change there, and the next run migrates again.
Two workers that find no copy both migrate, as before, and the first to finish keeps its copy.
"""

import contextlib
import functools
import hashlib
import os
import sqlite3
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("portal", "payments", "applications", "cms")
SQLITE_DIR = ROOT / "var" / "test-db"
TEMPLATE_PREFIX = "powerhall_tmpl_"


@functools.cache
def key() -> str:
    digest = hashlib.sha256((ROOT / "requirements.lock").read_bytes())
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def restore(connection) -> bool:
    """Fill ``connection``'s new, empty test database from the kept copy; False if there is
    none (then it must be migrated)."""
    if connection.vendor == "sqlite":
        kept = SQLITE_DIR / f"{key()}.sqlite3"
        if not kept.exists():
            return False
        connection.ensure_connection()
        with contextlib.closing(sqlite3.connect(kept)) as source:
            source.backup(connection.connection)
        return True
    if connection.vendor == "postgresql":
        template = TEMPLATE_PREFIX + key()
        test_database = connection.settings_dict["NAME"]
        with connection._nodb_cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template])
            if cursor.fetchone() is None:
                return False
            connection.close()
            cursor.execute(f'DROP DATABASE "{test_database}"')
            cursor.execute(f'CREATE DATABASE "{test_database}" TEMPLATE "{template}"')
            _without_waiting_for_the_disk(cursor, test_database)
        return True
    return False


def keep(connection) -> None:
    """Keep the database ``migrate`` just made for the next run (the older copies go)."""
    name = key()
    if connection.vendor == "sqlite":
        SQLITE_DIR.mkdir(parents=True, exist_ok=True)
        partial = SQLITE_DIR / f"{name}.{os.getpid()}.partial"
        with contextlib.closing(sqlite3.connect(partial)) as copy:
            connection.ensure_connection()
            connection.connection.backup(copy)
        partial.replace(SQLITE_DIR / f"{name}.sqlite3")
        for old in SQLITE_DIR.glob("*.sqlite3"):
            if old.stem != name:
                old.unlink(missing_ok=True)
    elif connection.vendor == "postgresql":
        template = TEMPLATE_PREFIX + name
        partial = f"{template}_{os.getpid()}"
        test_database = connection.settings_dict["NAME"]
        connection.close()
        with connection._nodb_cursor() as cursor:
            _without_waiting_for_the_disk(cursor, test_database)
            # Made under another name and renamed, so no worker ever copies a half-made one.
            cursor.execute(f'CREATE DATABASE "{partial}" TEMPLATE "{test_database}"')
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template])
            if cursor.fetchone() is None:
                with contextlib.suppress(Exception):
                    cursor.execute(f'ALTER DATABASE "{partial}" RENAME TO "{template}"')
                    return
            cursor.execute(f'DROP DATABASE "{partial}"')


def _without_waiting_for_the_disk(cursor, test_database: str) -> None:
    """A test database need not survive a crash of the server: its commits (the transactional
    and live-server tests make thousands) do not wait for the disk."""
    cursor.execute(f'ALTER DATABASE "{test_database}" SET synchronous_commit = off')
