"""The 1996 penalty rule, so it exists after ``migrate`` alone, and append-only ledger tables.

Written by hand. The triggers reuse what portal 0002 installed for the audit log: the PostgreSQL
function ``powerhall_audit_append_only()`` and, on SQLite, the per-connection function
``powerhall_audit_unlocked()`` (portal/core/audit_db.py), so the test suite's maintenance switch
unlocks both. A later migration that alters these tables on SQLite rebuilds them, which drops
the triggers: such a migration must create them again.
"""

from datetime import date
from decimal import Decimal

from django.db import migrations

LEDGER_TABLES = ("payments_ledgerentry", "payments_ledgerline")

RULE_1996 = {
    # 供电营业规则 (电力工业部令第8号, in force from 1996-10-08), 第九十八条.
    "effective_from": date(1996, 10, 8),
    "residential_rate": Decimal("0.001"),
    "current_year_rate": Decimal("0.002"),
    "earlier_year_rate": Decimal("0.003"),
    "minimum_total": Decimal("1.00"),
    "source": "供电营业规则（1996）第九十八条",
}


def add_rule(apps, schema_editor):
    PenaltyRule = apps.get_model("payments", "PenaltyRule")
    PenaltyRule.objects.using(schema_editor.connection.alias).get_or_create(
        effective_from=RULE_1996["effective_from"], defaults=RULE_1996
    )


def remove_rule(apps, schema_editor):
    PenaltyRule = apps.get_model("payments", "PenaltyRule")
    PenaltyRule.objects.using(schema_editor.connection.alias).filter(
        effective_from=RULE_1996["effective_from"], source=RULE_1996["source"]
    ).delete()


def _sqlite_triggers(table):
    for operation in ("UPDATE", "DELETE"):
        name = f"{table}_no_{operation.lower()}"
        yield name, (
            f"CREATE TRIGGER {name} BEFORE {operation} ON {table} BEGIN "
            f"SELECT RAISE(ABORT, 'ledger is append-only: {operation} refused') "
            "WHERE powerhall_audit_unlocked() = 0; END"
        )


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in LEDGER_TABLES:
        if vendor == "sqlite":
            for _name, sql in _sqlite_triggers(table):
                schema_editor.execute(sql, params=None)
        elif vendor == "postgresql":
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION powerhall_audit_append_only()"
            )
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION powerhall_audit_append_only()"
            )
        else:
            raise NotImplementedError(f"No append-only triggers for the {vendor} database engine.")


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in LEDGER_TABLES:
        if vendor == "sqlite":
            for name, _sql in _sqlite_triggers(table):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")
        elif vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0002_bills_ledger"),
        ("portal", "0002_audit_log"),
    ]

    operations = [
        migrations.RunPython(add_rule, remove_rule),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
