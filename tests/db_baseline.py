"""What ``migrate`` left in a test database, put back by every flush (tests/conftest.py).

Transactional and live-server tests end with Django's ``flush``, which empties every table: the
rows the migrations loaded too (the page tree, the kinds of application and the commitment sets,
the 1996 penalty rule, groups, content types and permissions). The next such test then had to
put the essentials back by hand, about 0.5 s each on PostgreSQL, after a TRUNCATE of every table
that took another 0.5-0.8 s (PostgreSQL gives each table new files).

Instead, each test worker copies once, when its database is ready, every table ``migrate`` left
rows in (to ``bl_<table>``, beside it), and a flush deletes what is in the tables and copies those
rows back, in the one transaction: milliseconds, and afterwards the database is as ``migrate``
left it, not nearly so. Deleting needs no order: on PostgreSQL the flush runs with triggers off
(``session_replication_role = replica``, as PostgreSQL's own replication does, which needs a
superuser: the test databases' owner is one here and in CI; otherwise TRUNCATE stays), so
neither foreign keys nor the ledger's append-only rule get in the way; SQLite's foreign keys are
checked at the commit (Django declares them deferred).
"""

from django.db.backends.postgresql.base import DatabaseWrapper as Postgres
from django.db.backends.sqlite3.base import DatabaseWrapper as Sqlite

PostgresOperations, SqliteOperations = Postgres.ops_class, Sqlite.ops_class

PREFIX = "bl_"

# The database's name → [(table, its columns but generated ones)] of the rows kept.
_kept: dict[str, list[tuple[str, list[str]]]] = {}


def keep(connection) -> None:
    """Copy the rows ``migrate`` left in ``connection``'s test database."""
    quote = connection.ops.quote_name
    kept = []
    with connection.cursor() as cursor:
        for table in connection.introspection.django_table_names(
            only_existing=True, include_views=False
        ):
            cursor.execute(f"SELECT 1 FROM {quote(table)} LIMIT 1")  # noqa: S608 - model tables  # nosec
            if cursor.fetchone() is None:
                continue
            columns = ", ".join(quote(column) for column in _stored_columns(connection, table))
            copy = quote(PREFIX + table)
            cursor.execute(f"DROP TABLE IF EXISTS {copy}")
            cursor.execute(f"CREATE TABLE {copy} AS SELECT {columns} FROM {quote(table)}")  # noqa: S608 - model tables  # nosec
            kept.append((table, columns))
    _kept[connection.settings_dict["NAME"]] = kept


def _stored_columns(connection, table: str) -> list[str]:
    """The table's columns in order, without generated ones (which cannot be written)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND table_name = %s AND is_generated = 'NEVER' "
                "ORDER BY ordinal_position",
                [table],
            )
            return [name for (name,) in cursor.fetchall()]
        # table_info leaves out generated columns (table_xinfo would list them).
        cursor.execute(f"PRAGMA table_info({connection.ops.quote_name(table)})")
        return [row[1] for row in cursor.fetchall()]


def _put_back(ops, tables) -> list[str]:
    quote = ops.quote_name
    flushed = set(tables)
    return [
        f"INSERT INTO {quote(table)} ({columns}) SELECT {columns} FROM {quote(PREFIX + table)}"  # noqa: S608 - model tables  # nosec
        for table, columns in _kept.get(ops.connection.settings_dict["NAME"], [])
        if table in flushed
    ]


def install():
    """Make ``flush`` on both databases delete and put the kept rows back; gives what undoes
    it."""
    postgres_flush, sqlite_flush = PostgresOperations.sql_flush, SqliteOperations.sql_flush

    def postgres(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if not tables or reset_sequences:
            return postgres_flush(
                self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        if _is_superuser(self.connection):
            emptied = ["SET LOCAL session_replication_role = replica"] + [
                f"DELETE FROM {self.quote_name(table)}"  # noqa: S608 - model tables  # nosec
                for table in tables
            ]
        else:
            emptied = postgres_flush(self, style, tables, allow_cascade=allow_cascade)
        return emptied + _put_back(self, tables)

    def sqlite(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        emptied = sqlite_flush(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        return emptied if reset_sequences else emptied + _put_back(self, tables)

    PostgresOperations.sql_flush, SqliteOperations.sql_flush = postgres, sqlite

    def uninstall():
        PostgresOperations.sql_flush, SqliteOperations.sql_flush = postgres_flush, sqlite_flush

    return uninstall


def _is_superuser(connection) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('is_superuser') = 'on'")
        return cursor.fetchone()[0]
