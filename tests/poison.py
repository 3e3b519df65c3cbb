"""A real bad row for the safety-net tests: a database trigger that refuses to change one row,
as a corrupt row, a constraint added by hand or a broken replica would. Made inside the test's
transaction, so it goes when the test's rollback does (DDL is transactional on both databases).
"""

from itertools import count

from django.db import connection

_names = count(1)
MESSAGE = "poisoned row"


def refuse_changes(model, pk):
    """Make every UPDATE of ``model``'s row ``pk`` fail with a database error. Returns a function
    that removes the trigger, for tests with real commits (``transaction=True``), whose tables
    are emptied afterwards but keep their triggers."""
    table = model._meta.db_table
    name = f"poison_{table}_{next(_names)}"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} FOR EACH ROW "
                f"WHEN (OLD.id = {int(pk)}) EXECUTE FUNCTION {name}()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} FOR EACH ROW "
                f"WHEN OLD.id = {int(pk)} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )

    def remove() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if pg else ""))
            if pg:
                cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")

    pg = connection.vendor == "postgresql"
    return remove


def refuse_inserts(model, *, column: str, containing: str):
    """Make every INSERT into ``model``'s table whose ``column`` contains ``containing`` fail
    with a database error (a notification for one bill, say). Same lifetime as
    ``refuse_changes``."""
    table = model._meta.db_table
    name = f"poison_{table}_{next(_names)}"
    pattern = "%" + containing.replace("'", "''") + "%"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW "
                f"WHEN (NEW.{column} LIKE '{pattern}') EXECUTE FUNCTION {name}()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW "
                f"WHEN NEW.{column} LIKE '{pattern}' BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )
