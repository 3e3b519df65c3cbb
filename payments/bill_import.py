"""Importing bills from the billing system (CIS), the master of bills.

One service, ``bills_import``, behind both the ``import_bills`` command and the integration API's
``POST /bills``, built like the account import (portal/account_import.py) and answering with the
same report (docs/integration.md):

- every row is checked (``_clean``, then ``_judge`` against the database); a rejected row is
  reported with its line number and every reason, and the good rows are imported, unless
  ``strict``: then one bad row means nothing is imported;
- dates and amounts must be plausible (``Bounds``, from the settings): the period within years
  of today, the issue and due dates from the period's start to a bounded time after its end, so
  a "no date" sentinel such as 9999-12-31 never reaches the penalty arithmetic of a page;
- a new bill number is a new bill: inserted in bulk with its lines and its ``bill_issued``
  ledger entry;
- a bill number seen before with the same values writes nothing, so a file imported twice
  changes nothing; with other values the bill is *replaced* while nothing is paid on it, and
  *adjusted* once something is (the difference posts to the ledger and stays visible); with
  status ``cancelled`` it is *cancelled* and nothing is owed on it any more. Each of these
  leaves a ``BillRevision``, and a ledger entry when what is owed moves (a correction of the
  dates or the kWh with the same amount posts nothing) (``_revise``);
- a new bill of an account that holds credit (an overpayment, money paid on a cancelled bill)
  is paid from that credit at once, as far as it goes (``_credit_apply``; the run's audit record
  counts the bills and the amount);
- a tariff code the portal has no ``Tariff`` for is imported and flagged (``tariff_unknown``),
  as for accounts; a known one records the version in force on the period's last day;
- the file streams through in batches: a few queries per batch, nothing per row, so memory
  stays flat on a million rows. On PostgreSQL new rows go in with COPY (``_insert_rows``);
- the whole run is one transaction, and its single audit record is that transaction's last write.
"""

import bisect
import re
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from django.db import connection
from django.db.models import Sum
from django.utils.translation import gettext as _

from portal.core import clock
from portal.core.interchange import (
    Bounds,
    ImportReport,
    RowError,
    Run,
    date_value,
    date_within,
    decimal_value,
    import_run,
    printable_name,
    shown,
    text_value,
)
from portal.core.money import FEN, ZERO
from portal.fragments import accounts_changed
from portal.models import IntegrationClient, ServiceAccount

from .bills import bill_issue_postings
from .ledger import Posting, UnbalancedEntry, balanced, bills_refresh, ledger_post_many
from .models import (
    Bill,
    BillLine,
    BillRevision,
    BillStatus,
    Book,
    EntryKind,
    LedgerEntry,
    LedgerLine,
    LineKind,
    RevisionKind,
    Tariff,
    TariffVersion,
)
from .reminders import bills_issued_notify

BILL_COLUMNS = (
    "bill_number",
    "account_number",
    "period_start",
    "period_end",
    "issue_date",
    "due_date",
    "kwh",
    "amount",
    "tariff_code",
)
# "status" may be left out (issued); "lines" exists in JSON Lines only.
OPTIONAL_COLUMNS = {"csv": frozenset({"status"}), "jsonl": frozenset({"status", "lines"})}
LINE_KEYS = ("kind", "label", "kwh", "unit_price", "amount")
LINE_KINDS = (LineKind.TIER.value, LineKind.BAND.value)
MAX_LINES = 24
ISSUED, CANCELLED = "issued", "cancelled"
BATCH_SIZE = 2000
AUDIT_ACTION = "bills.imported"

# Bill and payment imports queue on one lock (``import_lock``): both write the same bills, and one
# at a time keeps a payment from being allocated against a bill a concurrent bill import is about
# to replace.
LOCK = "powerhall.billing_import"
_BILL_NUMBER_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._/-]{0,39}$")
_ACCOUNT_NUMBER_RE = re.compile(r"^[0-9]{6,20}$")
_TARIFF_CODE_MAX = Bill._meta.get_field("tariff_code").max_length
_LABEL_MAX = BillLine._meta.get_field("label").max_length
# Integer digits a unit price holds: DecimalField(max_digits=12, decimal_places=6).
_UNIT_PRICE_DIGITS = 6


# --- Rows ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Line:
    kind: str
    label: str
    kwh: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(slots=True)
class _Row:
    """One valid row of the file, as bill field values."""

    line: int
    number: str
    account_number: str
    period_start: date
    period_end: date
    issue_date: date
    due_date: date
    kwh: Decimal
    amount: Decimal
    tariff_code: str
    cancelled: bool
    lines: tuple[_Line, ...]
    # Filled in by _judge:
    account_id: int = 0
    tariff_unknown: bool = False
    tariff_version_id: int | None = None

    def values(self) -> tuple:
        """What the billing system decides, compared with what is stored (``_judge``)."""
        return (
            self.period_start,
            self.period_end,
            self.issue_date,
            self.due_date,
            self.kwh,
            self.amount,
            self.tariff_code,
            tuple((x.kind, x.label, x.kwh, x.unit_price, x.amount) for x in self.lines),
        )


@dataclass
class BillImportReport(ImportReport):
    """The import report, and how many existing bills were replaced, adjusted or cancelled
    (each of those is also counted in ``updated``, or in ``created`` for a bill that arrives
    already cancelled)."""

    replaced: int = 0
    adjusted: int = 0
    cancelled: int = 0
    credit_applied: int = 0
    """New bills paid, in part or in full, from credit the account held (``_credit_apply``)."""
    credit_amount: Decimal = ZERO

    @property
    def revisions(self) -> dict[str, int]:
        return {"replaced": self.replaced, "adjusted": self.adjusted, "cancelled": self.cancelled}

    def discard(self) -> None:
        super().discard()
        self.replaced = self.adjusted = self.cancelled = self.credit_applied = 0
        self.credit_amount = ZERO

    def audit_data(self) -> dict:
        return super().audit_data() | {
            "revisions": self.revisions,
            "credit_applied": {"bills": self.credit_applied, "amount": self.credit_amount},
        }

    def as_dict(self) -> dict:
        return super().as_dict() | self.revisions


@dataclass
class _BillRunState:
    """What one run reads once and hands to every batch."""

    file_name: str
    actor_id: int | None
    known_tariffs: frozenset[str]
    # tariff code → (effective dates ascending, version ids)
    versions: dict[str, tuple[list[date], list[int]]]
    today: date
    now: datetime

    @classmethod
    def load(cls, *, file_name: str, actor) -> "_BillRunState":
        versions: dict[str, tuple[list[date], list[int]]] = {}
        rows = TariffVersion.objects.order_by("tariff__code", "effective_from").values_list(
            "tariff__code", "effective_from", "pk"
        )
        for code, effective_from, pk in rows:
            dates, ids = versions.setdefault(code, ([], []))
            dates.append(effective_from)
            ids.append(pk)
        return cls(
            file_name=file_name,
            actor_id=actor.pk if actor is not None else None,
            known_tariffs=frozenset(Tariff.objects.values_list("code", flat=True)),
            versions=versions,
            today=clock.today(),
            now=clock.now(),
        )

    def version_for(self, code: str, day: date) -> int | None:
        """The tariff version in force on ``day``, if the portal knows one."""
        if code not in self.versions:
            return None
        dates, ids = self.versions[code]
        index = bisect.bisect_right(dates, day) - 1
        return ids[index] if index >= 0 else None

    def source(self, row: _Row) -> str:
        return f"{self.file_name} line {row.line}"[:200]


def _clean_lines(value, problems: list[str], bounds: Bounds) -> tuple[_Line, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append(_("lines must be a list of objects"))
        return ()
    if len(value) > MAX_LINES:
        problems.append(_("lines has more than %(limit)s items") % {"limit": MAX_LINES})
        return ()
    lines = []
    for number, item in enumerate(value, start=1):
        item_problems: list[str] = []
        if not isinstance(item, dict) or set(item) != set(LINE_KEYS):
            item_problems.append(
                _("it must be an object with exactly the keys %(keys)s")
                % {"keys": ", ".join(LINE_KEYS)}
            )
        else:
            kind = item["kind"]
            if kind not in LINE_KINDS:
                item_problems.append(
                    _('kind must be one of %(choices)s, not "%(value)s"')
                    % {"choices": ", ".join(LINE_KINDS), "value": shown(kind)}
                )
            label = text_value("label", item["label"], item_problems, max_length=_LABEL_MAX)
            kwh = decimal_value("kwh", item["kwh"], item_problems, maximum=bounds.max_kwh)
            unit_price = decimal_value(
                "unit_price", item["unit_price"], item_problems, places=6, digits=_UNIT_PRICE_DIGITS
            )
            amount = decimal_value(
                "amount", item["amount"], item_problems, maximum=bounds.max_amount
            )
        if item_problems:
            problems += [
                _("lines item %(number)s: %(problem)s") % {"number": number, "problem": problem}
                for problem in item_problems
            ]
        else:
            lines.append(_Line(kind, label, kwh, unit_price, amount))
    return tuple(lines)


def _dates_plausible(row: dict, problems: list[str], bounds: Bounds) -> None:
    """The period within the years around today the bounds allow; the issue and due dates from
    the period's start to a bounded time after its end. Nothing later (penalty days, a page's
    date arithmetic) then meets a date it cannot work with, such as 9999-12-31 or 1900-01-01."""
    start, end = row["period_start"], row["period_end"]
    if start is None or end is None or end < start:
        return
    rule = bounds.period_rule
    earliest, latest = bounds.period_earliest, bounds.period_latest
    if not (
        date_within("period_start", start, problems, earliest=earliest, latest=latest, rule=rule)
        and date_within("period_end", end, problems, earliest=earliest, latest=latest, rule=rule)
    ):
        return
    due_latest = bounds.due_latest(end)
    for column in ("issue_date", "due_date"):
        if row[column] is not None:
            date_within(
                column,
                row[column],
                problems,
                earliest=start,
                latest=due_latest,
                rule=bounds.due_rule,
            )


def _clean(line: int, record: dict, bounds: Bounds) -> tuple[_Row | None, str, list[str]]:
    """(the row, its bill number if well formed, every problem found in it). The number comes
    back even when other values are wrong, so a number repeated further down is still caught."""
    problems: list[str] = []
    number = text_value("bill_number", record["bill_number"], problems, max_length=40)
    if number and not _BILL_NUMBER_RE.match(number):
        problems.append(
            _("bill_number must be 1 to 40 letters, digits, '.', '_', '/' or '-' (ASCII)")
        )
        number = ""
    account_number = text_value("account_number", record["account_number"], problems, max_length=20)
    if account_number and not _ACCOUNT_NUMBER_RE.match(account_number):
        problems.append(_("account_number must be 6 to 20 digits"))
    period_start = date_value("period_start", record["period_start"], problems)
    period_end = date_value("period_end", record["period_end"], problems)
    issue_date = date_value("issue_date", record["issue_date"], problems)
    due_date = date_value("due_date", record["due_date"], problems)
    kwh = decimal_value("kwh", record["kwh"], problems, maximum=bounds.max_kwh)
    amount = decimal_value("amount", record["amount"], problems, maximum=bounds.max_amount)
    tariff_code = text_value(
        "tariff_code", record["tariff_code"], problems, max_length=_TARIFF_CODE_MAX
    )
    status = record.get("status") or ISSUED
    if status not in (ISSUED, CANCELLED):
        problems.append(
            _('status must be issued or cancelled, not "%(value)s"') % {"value": shown(status)}
        )
    lines = _clean_lines(record.get("lines"), problems, bounds)

    if period_start and period_end and period_end < period_start:
        problems.append(_("period_end is before period_start"))
    if issue_date and due_date and due_date < issue_date:
        problems.append(_("due_date is before issue_date"))
    _dates_plausible(
        {
            "period_start": period_start,
            "period_end": period_end,
            "issue_date": issue_date,
            "due_date": due_date,
        },
        problems,
        bounds,
    )
    if lines and amount is not None:
        total = sum((x.amount for x in lines), ZERO)
        if total != amount:
            problems.append(
                _("the lines add up to %(total)s, not to the amount %(amount)s")
                % {"total": total, "amount": amount}
            )
    if problems:
        return None, number, problems
    row = _Row(
        line,
        number,
        account_number,
        period_start,
        period_end,
        issue_date,
        due_date,
        kwh,
        amount,
        tariff_code,
        status == CANCELLED,
        lines,
    )
    return row, number, []


# --- Judging a batch against the database -------------------------------------------------------


# The stored values a row is compared with (``_Row.values``), then what ``_judge`` needs besides.
_COMPARED = (
    "period_start",
    "period_end",
    "issue_date",
    "due_date",
    "kwh",
    "amount",
    "tariff_code",
)
_STORED = ("pk", "account_id", "account__number", "status", "tariff_unknown", "tariff_version_id")


@dataclass
class _Judged:
    new: list[_Row] = field(default_factory=list)
    # (row, stored bill's id): changed values, or a cancellation
    revised: list[tuple[_Row, int]] = field(default_factory=list)
    # (row, stored bill's id) whose only change is ours: the tariff became known (or unknown).
    tariff_changed: list[tuple[_Row, int]] = field(default_factory=list)
    unchanged: int = 0


def _judge(rows: list[_Row], run: _BillRunState, report: BillImportReport, reject) -> _Judged:
    """Sort a batch into new bills, revisions and unchanged rows; reject what the database
    refuses (an unknown account, a bill of another account, reissuing a cancelled bill). Reads
    only, three queries whatever the batch's size, into plain tuples: a re-sent file of a
    million bills builds no model instance. On PostgreSQL the batch is first copied into the
    run's staging table, and the accounts and stored bills are read by joining it
    (``_stage_load``)."""
    for row in rows:
        row.tariff_unknown = row.tariff_code not in run.known_tariffs
        row.tariff_version_id = run.version_for(row.tariff_code, row.period_end)
    if connection.vendor == "postgresql":
        accounts, stored = _stage_load(rows)
    else:
        accounts = dict(
            ServiceAccount.objects.filter(
                number__in={row.account_number for row in rows}
            ).values_list("number", "pk")
        )
        stored = {
            values[0]: values[1:]
            for values in Bill.objects.filter(number__in=[row.number for row in rows]).values_list(
                "number", *_STORED, *_COMPARED
            )
        }
    stored_lines = _stored_lines([values[0] for values in stored.values()])

    judged = _Judged()
    for row in rows:
        account_id = accounts.get(row.account_number)
        if account_id is None:
            reject(
                row.line,
                _("account %(account)s is not known: import the account first")
                % {"account": row.account_number},
            )
            continue
        row.account_id = account_id
        if row.number not in stored:
            if row.tariff_unknown:
                report.flagged += 1
            judged.new.append(row)
            continue
        pk, bill_account_id, bill_account, status, tariff_unknown, version_id, *compared = stored[
            row.number
        ]
        if bill_account_id != account_id:
            reject(
                row.line,
                _("bill number %(number)s belongs to account %(other)s, not %(account)s")
                % {"number": row.number, "other": bill_account, "account": row.account_number},
            )
            continue
        if status == BillStatus.CANCELLED and not row.cancelled:
            reject(row.line, _("cancelled bills cannot be reissued; use a new bill number"))
            continue
        if row.tariff_unknown:
            report.flagged += 1
        if status == BillStatus.CANCELLED:
            judged.unchanged += 1  # cancelled again: nothing more to do
        elif row.cancelled or row.values() != (*compared, tuple(stored_lines[pk])):
            judged.revised.append((row, pk))
        elif (tariff_unknown, version_id) != (row.tariff_unknown, row.tariff_version_id):
            judged.tariff_changed.append((row, pk))
        else:
            judged.unchanged += 1
    return judged


def _stored_lines(bill_ids: list[int]) -> dict[int, list[tuple]]:
    """The tier or band lines of these stored bills, in order (one query, none for none)."""
    stored_lines: dict[int, list[tuple]] = defaultdict(list)
    if not bill_ids:
        return stored_lines
    lines = BillLine.objects.order_by("bill_id", "position").values_list(
        "bill_id", "kind", "label", "kwh", "unit_price", "amount"
    )
    if connection.vendor == "postgresql":
        # One array parameter instead of a placeholder per bill: the driver parses a query of
        # thousands of placeholders in milliseconds.
        lines = lines.extra(where=["bill_id = ANY(%s)"], params=[bill_ids])
    else:
        lines = lines.filter(bill_id__in=bill_ids)
    for bill_id, *line in lines:
        stored_lines[bill_id].append(tuple(line))
    return stored_lines


# --- PostgreSQL: the batch in a staging table, new bills by set-based SQL ------------------------
# Each batch of clean rows is copied (COPY, one row per bill) into a temporary table that lives
# until the run's transaction ends. ``_judge`` reads the accounts and stored bills by joining it;
# ``_create`` inserts the new bills, their tier or band lines, their ``bill_issued`` entries and
# the entries' ledger lines in one statement from it. Table and column names below are the
# models' own, never from the file; every value from the file travels in the COPY.

_STAGE = "bill_import_stage"
_STAGE_LINES = "bill_import_stage_line"
_STAGE_COLUMNS = (
    "line",
    "number",
    "account_number",
    "period_start",
    "period_end",
    "issue_date",
    "due_date",
    "kwh",
    "amount",
    "tariff_code",
    "tariff_unknown",
    "tariff_version_id",
)
_STAGE_LINE_COLUMNS = ("line", "position", "kind", "label", "kwh", "unit_price", "amount")


def _stage_create() -> None:
    """The run's staging tables, emptied (PostgreSQL). ``ON COMMIT DROP``: nothing outlives the
    run's transaction; ``IF NOT EXISTS``: a second run inside one outer transaction (a test)
    reuses them."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (
                line integer NOT NULL,
                number varchar(40) NOT NULL,
                account_number varchar(20) NOT NULL,
                period_start date NOT NULL,
                period_end date NOT NULL,
                issue_date date NOT NULL,
                due_date date NOT NULL,
                kwh numeric(14, 2) NOT NULL,
                amount numeric(14, 2) NOT NULL,
                tariff_code varchar({_TARIFF_CODE_MAX}) NOT NULL,
                tariff_unknown boolean NOT NULL,
                tariff_version_id bigint
            ) ON COMMIT DROP"""
        )
        cursor.execute(
            f"""CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE_LINES} (
                line integer NOT NULL,
                position smallint NOT NULL,
                kind varchar(10) NOT NULL,
                label varchar({_LABEL_MAX}) NOT NULL,
                kwh numeric(14, 2) NOT NULL,
                unit_price numeric(12, 6) NOT NULL,
                amount numeric(14, 2) NOT NULL
            ) ON COMMIT DROP"""
        )
        cursor.execute(f"TRUNCATE {_STAGE}, {_STAGE_LINES}")


def _stage_load(rows: list[_Row]) -> tuple[dict[str, int], dict[str, tuple]]:
    """Copy the batch into the staging table, then read in one query what ``_judge`` needs:
    (account number → account id, bill number → the stored bill's ``_STORED`` and
    ``_COMPARED`` values), as the ORM reads them on SQLite."""
    _stage_create()
    bill = Bill._meta.db_table
    account = ServiceAccount._meta.db_table
    stored_columns = ", ".join(f"b.{c}" for c in ("id", "account_id"))
    compared_columns = ", ".join(f"b.{c}" for c in _COMPARED)
    accounts, stored = {}, {}
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {_STAGE} ({', '.join(_STAGE_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    (
                        row.line,
                        row.number,
                        row.account_number,
                        row.period_start,
                        row.period_end,
                        row.issue_date,
                        row.due_date,
                        row.kwh,
                        row.amount,
                        row.tariff_code,
                        row.tariff_unknown,
                        row.tariff_version_id,
                    )
                )
        cursor.execute(
            f"""SELECT s.account_number, a.id, s.number, {stored_columns}, ba.number, b.status,
                       b.tariff_unknown, b.tariff_version_id, {compared_columns}
                FROM {_STAGE} s
                LEFT JOIN {account} a ON a.number = s.account_number
                LEFT JOIN {bill} b ON b.number = s.number
                LEFT JOIN {account} ba ON ba.id = b.account_id"""  # noqa: S608  # nosec
        )
        for account_number, account_id, number, *values in cursor.fetchall():
            if account_id is not None:
                accounts[account_number] = account_id
            if values[0] is not None:
                stored[number] = tuple(values)
    return accounts, stored


def _create_staged(rows: list[_Row], run: _BillRunState) -> list[int]:
    """``_create`` on PostgreSQL, from the staging table ``_stage_load`` filled: one statement
    inserts the new bills (open; nothing paid), their tier or band lines, and for each bill
    with an amount its ``bill_issued`` entry with the lines ``bill_issue_postings`` gives
    (receivable +amount, energy revenue −amount). It answers the new ids and the count and sum
    of the ledger lines it wrote, which must be two per entry summing to zero: the ledger's
    own check, for the batch at once."""
    new_lines = [
        (row.line, position, x.kind, x.label, x.kwh, x.unit_price, x.amount)
        for row in rows
        for position, x in enumerate(row.lines, start=1)
    ]
    tables = {
        "bill": Bill._meta.db_table,
        "bill_line": BillLine._meta.db_table,
        "entry": LedgerEntry._meta.db_table,
        "ledger_line": LedgerLine._meta.db_table,
    }
    with connection.cursor() as cursor:
        if new_lines:
            columns = ", ".join(_STAGE_LINE_COLUMNS)
            with cursor.cursor.copy(f"COPY {_STAGE_LINES} ({columns}) FROM STDIN") as copy:
                for line in new_lines:
                    copy.write_row(line)
        cursor.execute(
            "SELECT pg_get_serial_sequence(%s, 'id'), pg_get_serial_sequence(%s, 'id')",
            [tables["bill"], tables["entry"]],
        )
        bill_sequence, entry_sequence = cursor.fetchone()
        # The ids are drawn first, in the file's order as the row-wise insert draws them, so that
        # nothing below joins on a bill number: each insert reads ``wanted`` alone.
        cursor.execute(
            f"""WITH wanted AS MATERIALIZED (
                    SELECT nextval(%(bill_sequence)s::regclass) AS bill_id,
                           CASE WHEN x.amount <> 0
                                THEN nextval(%(entry_sequence)s::regclass) END AS entry_id,
                           x.*
                    FROM (
                        SELECT s.*, a.id AS account_id
                        FROM {_STAGE} s
                        JOIN {ServiceAccount._meta.db_table} a ON a.number = s.account_number
                        WHERE s.line = ANY(%(lines)s::integer[])
                        ORDER BY s.line
                    ) x
                ),
                bills AS (
                    INSERT INTO {tables["bill"]} (
                        id, uuid, number, account_id, period_start, period_end, issue_date,
                        due_date, kwh, amount, tariff_code, tariff_unknown, tariff_version_id,
                        status, principal_paid, penalty_charged, penalty_paid, imported_at,
                        updated_at
                    )
                    SELECT bill_id, gen_random_uuid(), number, account_id, period_start,
                           period_end, issue_date, due_date, kwh, amount, tariff_code,
                           tariff_unknown, tariff_version_id, %(open)s, 0, 0, 0, %(now)s, %(now)s
                    FROM wanted
                ),
                bill_lines AS (
                    INSERT INTO {tables["bill_line"]}
                        (bill_id, position, kind, label, kwh, unit_price, amount)
                    SELECT w.bill_id, l.position, l.kind, l.label, l.kwh, l.unit_price, l.amount
                    FROM {_STAGE_LINES} l JOIN wanted w ON w.line = l.line
                ),
                entries AS (
                    INSERT INTO {tables["entry"]} (
                        id, uuid, kind, effective_date, posted_at, channel, reference, memo,
                        posted_by_id
                    )
                    SELECT entry_id, gen_random_uuid(), %(kind)s, issue_date, %(now)s, '',
                           number, left(%(file_name)s::text || ' line ' || line, 200), %(actor)s
                    FROM wanted WHERE entry_id IS NOT NULL
                ),
                ledger_lines AS (
                    INSERT INTO {tables["ledger_line"]}
                        (entry_id, account_id, bill_id, book, amount)
                    SELECT w.entry_id, w.account_id, w.bill_id, p.book, p.sign * w.amount
                    FROM wanted w
                    CROSS JOIN (VALUES (1, %(receivable)s, 1), (2, %(revenue)s, -1))
                        AS p(position, book, sign)
                    WHERE w.entry_id IS NOT NULL
                    ORDER BY w.entry_id, p.position
                    RETURNING amount
                )
            SELECT line, bill_id, NULL, NULL FROM wanted
            UNION ALL
            SELECT NULL, NULL, count(*), coalesce(sum(amount), 0) FROM ledger_lines""",  # noqa: S608  # nosec
            {
                "bill_sequence": bill_sequence,
                "entry_sequence": entry_sequence,
                "lines": [row.line for row in rows],
                "open": BillStatus.OPEN.value,
                "now": run.now,
                "kind": EntryKind.BILL_ISSUED.value,
                "file_name": run.file_name,
                "actor": run.actor_id,
                "receivable": Book.RECEIVABLE.value,
                "revenue": Book.ENERGY_REVENUE.value,
            },
        )
        results = cursor.fetchall()
        if new_lines:
            cursor.execute(f"TRUNCATE {_STAGE_LINES}")
    ids_by_line = {line: pk for line, pk, _count, _sum in results if line is not None}
    ((_line, _pk, line_count, line_sum),) = [r for r in results if r[0] is None]
    entry_count = sum(1 for row in rows if row.amount)
    if line_count != 2 * entry_count or line_sum != 0:
        raise UnbalancedEntry(
            f"bill_issued: {line_count} lines summing to {line_sum} for {entry_count} entries"
        )
    ids = [ids_by_line[row.line] for row in rows]
    bills_refresh(
        bill_ids=[pk for pk, row in zip(ids, rows, strict=True) if not row.amount],
        versions=False,
    )
    return ids


# --- Writing -------------------------------------------------------------------------------------


def _insert_rows(
    model, columns: tuple[str, ...], rows: list[tuple], *, returning: bool = True
) -> list[int]:
    """Insert ``rows`` (values in the order of ``columns``, attnames) and return their new
    primary keys in order (none unless ``returning``: nothing refers to a line's id).

    PostgreSQL: ids are drawn from the table's sequence first, then the rows go in with one
    COPY, several times faster than a multi-row INSERT for the import's volumes. SQLite:
    ``bulk_create``, which returns the ids too."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        objects = [model(**dict(zip(columns, row, strict=True))) for row in rows]
        model.objects.bulk_create(objects, batch_size=500)
        return [obj.pk for obj in objects]
    table = connection.ops.quote_name(model._meta.db_table)
    names = [connection.ops.quote_name(model._meta.get_field(c).column) for c in columns]
    with connection.cursor() as cursor:
        ids = []
        if returning:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [model._meta.db_table, len(rows)],
            )
            ids = [pk for (pk,) in cursor.fetchall()]
            names.insert(0, "id")
            rows = [(pk, *row) for pk, row in zip(ids, rows, strict=True)]
        with cursor.cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    return ids


_BILL_INSERT_COLUMNS = (
    "uuid",
    "number",
    "account_id",
    "period_start",
    "period_end",
    "issue_date",
    "due_date",
    "kwh",
    "amount",
    "tariff_code",
    "tariff_unknown",
    "tariff_version_id",
    "status",
    "principal_paid",
    "penalty_charged",
    "penalty_paid",
    "imported_at",
    "updated_at",
)
_LINE_INSERT_COLUMNS = ("bill_id", "position", "kind", "label", "kwh", "unit_price", "amount")


def _line_rows(bill_id: int, row: _Row) -> list[tuple]:
    return [
        (bill_id, position, x.kind, x.label, x.kwh, x.unit_price, x.amount)
        for position, x in enumerate(row.lines, start=1)
    ]


class _NewBill(NamedTuple):
    """What ``bill_issue_postings`` reads of a bill, for bills inserted without a model
    instance: building a ``Bill`` per row would cost more than the rest of the row's work."""

    pk: int
    account_id: int
    amount: Decimal


_ENTRY_INSERT_COLUMNS = (
    "uuid",
    "kind",
    "effective_date",
    "posted_at",
    "channel",
    "reference",
    "memo",
    "posted_by_id",
)
_LEDGER_LINE_INSERT_COLUMNS = ("entry_id", "account_id", "bill_id", "book", "amount")


def _create(rows: list[_Row], run: _BillRunState) -> list[int]:
    """Insert new bills with their lines and post their ``bill_issued`` entries; return the
    new bills' ids, in the order of ``rows``.

    The ledger rows go through ``_insert_rows`` rather than ``ledger_post_many`` so that they
    can use COPY too; every entry is still checked by the ledger's own ``balanced`` first.
    On PostgreSQL, set-based SQL from the staging table (``_create_staged``)."""
    if connection.vendor == "postgresql":
        return _create_staged(rows, run) if rows else []
    now = run.now
    ids = _insert_rows(
        Bill,
        _BILL_INSERT_COLUMNS,
        [
            (
                uuid.uuid4(),
                row.number,
                row.account_id,
                row.period_start,
                row.period_end,
                row.issue_date,
                row.due_date,
                row.kwh,
                row.amount,
                row.tariff_code,
                row.tariff_unknown,
                row.tariff_version_id,
                BillStatus.OPEN.value,
                ZERO,
                ZERO,
                ZERO,
                now,
                now,
            )
            for row in rows
        ],
    )
    _insert_rows(
        BillLine,
        _LINE_INSERT_COLUMNS,
        [line for pk, row in zip(ids, rows, strict=True) for line in _line_rows(pk, row)],
        returning=False,
    )
    entries, postings, free = [], [], []
    for pk, row in zip(ids, rows, strict=True):
        lines = bill_issue_postings(bill=_NewBill(pk, row.account_id, row.amount))
        if not lines:
            free.append(pk)  # nothing to pay: its derived status is "paid"
            continue
        entries.append(_entry_row(EntryKind.BILL_ISSUED, row.issue_date, row, run))
        postings.append(balanced(lines))
    entry_ids = _insert_rows(LedgerEntry, _ENTRY_INSERT_COLUMNS, entries)
    _insert_rows(
        LedgerLine,
        _LEDGER_LINE_INSERT_COLUMNS,
        [
            (entry_id, line.account_id, line.bill_id, line.book, line.amount)
            for entry_id, lines in zip(entry_ids, postings, strict=True)
            for line in lines
        ],
        returning=False,
    )
    bills_refresh(bill_ids=free, versions=False)
    return ids


def _entry_row(kind: str, effective_date: date, row: _Row, run: _BillRunState) -> tuple:
    return (
        uuid.uuid4(),
        kind,
        effective_date,
        run.now,
        "",
        row.number,
        run.source(row),
        run.actor_id,
    )


def _entry(kind: str, effective_date: date, row: _Row, run: _BillRunState) -> LedgerEntry:
    return LedgerEntry(
        kind=kind,
        effective_date=effective_date,
        posted_at=run.now,
        reference=row.number,
        memo=run.source(row),
        posted_by_id=run.actor_id,
    )


def _balances(bill_ids: list[int]) -> dict[int, dict[str, Decimal]]:
    """Each bill's balance per book, from its ledger lines."""
    balances: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    rows = (
        LedgerLine.objects.filter(bill_id__in=bill_ids)
        .values_list("bill_id", "book")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for bill_id, book, total in rows:
        # SQLite sums decimals as binary floats; the lines are whole fen, so the sum is too.
        balances[bill_id][book] = Decimal(total).quantize(FEN)
    return balances


def _difference_postings(bill: Bill, new_amount: Decimal, receivable: Decimal) -> list[Posting]:
    """Lines that move a bill from its amount to ``new_amount``: receivable and revenue by the
    difference; if what was already paid is now more than the bill, the excess becomes the
    customer's credit (receivable back to zero). None when nothing moves (the amount is the same
    and nothing was overpaid): a correction of the dates or the kWh alone owes nothing new."""
    difference = new_amount - bill.amount
    excess = max(-(receivable + difference), ZERO)
    account, pk = bill.account_id, bill.pk
    lines = [
        Posting(account, Book.RECEIVABLE, difference + excess, pk),
        Posting(account, Book.ENERGY_REVENUE, -difference, pk),
        Posting(account, Book.CUSTOMER_CREDIT, -excess, pk),
    ]
    return balanced(lines) if any(line.amount for line in lines) else []


def _cancellation_postings(bill: Bill, balance: dict[str, Decimal]) -> list[Posting]:
    """Lines that leave nothing owed on a bill: the receivables (amount and penalty) and the
    revenue are reversed, and whatever the customer paid on the bill becomes their credit."""
    account, pk = bill.account_id, bill.pk
    reversed_books = (
        Book.RECEIVABLE,
        Book.PENALTY_RECEIVABLE,
        Book.ENERGY_REVENUE,
        Book.PENALTY_REVENUE,
    )
    lines = [Posting(account, book, -balance[book], pk) for book in reversed_books]
    paid = sum((balance[book] for book in reversed_books), ZERO)
    lines.append(Posting(account, Book.CUSTOMER_CREDIT, paid, pk))
    return [line for line in lines if line.amount]


def _update_rows(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """``UPDATE … SET columns WHERE id`` for each row (its values in the order of ``columns``,
    then the id), sent with ``executemany``: one statement, pipelined on PostgreSQL. Django's
    ``bulk_update`` builds a CASE per row and column, which costs milliseconds per bill."""
    if not rows:
        return
    fields = [model._meta.get_field(column) for column in columns]
    quote = connection.ops.quote_name
    # Table and column names from the model's metadata, never from the file.
    sql = "UPDATE {} SET {} WHERE id = %s".format(  # noqa: S608  # nosec
        quote(model._meta.db_table),
        ", ".join(f"{quote(field.column)} = %s" for field in fields),
    )
    params = []
    for *values, pk in rows:
        params.append(
            [*(f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True)), pk]
        )
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


_REVISED_COLUMNS = (*_COMPARED, "tariff_unknown", "tariff_version_id", "updated_at")


def _revise(pairs: list[tuple[_Row, int]], run: _BillRunState, report: BillImportReport) -> None:
    """Replace, adjust or cancel existing bills: lock them, post the difference, keep the
    history, then recompute their derived columns from the ledger."""
    locked = Bill.objects.select_for_update(of=("self",)).filter(pk__in=[pk for _row, pk in pairs])
    bills = {bill.pk: bill for bill in locked.order_by("pk")}
    balances = _balances(list(bills))
    revisions, entries, updated, new_lines, refresh = [], [], [], [], []
    for row, pk in pairs:
        bill = bills[pk]
        balance = balances[pk]
        if row.cancelled:
            kind = RevisionKind.CANCELLED
            new_amount, new_kwh = ZERO, ZERO
            lines = _cancellation_postings(bill, balance)
            entry_kind = EntryKind.BILL_CANCELLED
            report.cancelled += 1
        else:
            # Replaced while nothing is paid on it; adjusted, visibly, once something is.
            untouched = not bill.principal_paid and not bill.penalty_paid
            kind = RevisionKind.REPLACED if untouched else RevisionKind.ADJUSTED
            entry_kind = EntryKind.BILL_REVISED if untouched else EntryKind.BILL_ADJUSTED
            new_amount, new_kwh = row.amount, row.kwh
            lines = _difference_postings(bill, row.amount, balance[Book.RECEIVABLE])
            if untouched:
                report.replaced += 1
            else:
                report.adjusted += 1
        revisions.append(
            BillRevision(
                bill=bill,
                kind=kind,
                old_amount=bill.amount,
                new_amount=new_amount,
                old_kwh=bill.kwh,
                new_kwh=new_kwh,
                source=run.source(row),
            )
        )
        if lines:
            entries.append((_entry(entry_kind, run.today, row, run), lines))
        # An unpaid bill replaced by another non-zero amount stays open with nothing paid: its
        # derived columns cannot change. Anything else is recomputed from the ledger.
        if row.cancelled or kind == RevisionKind.ADJUSTED or not bill.amount or not row.amount:
            refresh.append(pk)
        if not row.cancelled:
            updated.append((*(getattr(row, c) for c in _REVISED_COLUMNS[:-1]), run.now, pk))
            new_lines += _line_rows(pk, row)
    BillRevision.objects.bulk_create(revisions)
    ledger_post_many(entries=entries)
    _update_rows(Bill, _REVISED_COLUMNS, updated)
    # The row is the bill's whole state: its lines are what this row says, or none.
    BillLine.objects.filter(bill_id__in=[values[-1] for values in updated]).delete()
    _insert_rows(BillLine, _LINE_INSERT_COLUMNS, new_lines, returning=False)
    bills_refresh(bill_ids=refresh, versions=False)


def _credit_balances(account_ids: set[int]) -> dict[int, Decimal]:
    """The credit held for each of these accounts that holds any (one grouped query)."""
    rows = (
        LedgerLine.objects.filter(account_id__in=account_ids, book=Book.CUSTOMER_CREDIT)
        .values_list("account_id")
        .annotate(total=Sum("amount"))
        .filter(total__lt=0)
        .order_by()
    )
    # SQLite sums decimals as binary floats; the lines are whole fen, so the sum is too.
    balances = {account_id: -Decimal(total).quantize(FEN) for account_id, total in rows}
    return {account_id: credit for account_id, credit in balances.items() if credit > 0}


def _credit_apply(
    new: list[tuple[_Row, int]], run: _BillRunState, report: BillImportReport
) -> None:
    """Pay new bills from the credit their account holds (an overpayment, money paid on a bill
    later cancelled): ``credit_applied`` customer_credit +x / receivable −x on the new bill,
    x = min(credit, amount), dated the bill's issue date, oldest due bill first. Runs after the
    batch's revisions, so credit a cancellation in the same batch frees goes to its
    replacement. One query for the batch; more only for the accounts that hold credit."""
    new = [(row, pk) for row, pk in new if row.amount and not row.cancelled]
    credit = _credit_balances({row.account_id for row, _pk in new}) if new else {}
    if not credit:
        return
    entries = []
    for row, pk in sorted(new, key=lambda pair: (pair[0].due_date, pair[0].number)):
        held = credit.get(row.account_id, ZERO)
        if not held:
            continue
        used = min(held, row.amount)
        credit[row.account_id] = held - used
        lines = [
            Posting(row.account_id, Book.CUSTOMER_CREDIT, used, pk),
            Posting(row.account_id, Book.RECEIVABLE, -used, pk),
        ]
        entries.append((_entry(EntryKind.CREDIT_APPLIED, row.issue_date, row, run), lines))
        report.credit_applied += 1
        report.credit_amount += used
    ledger_post_many(entries=entries)
    bills_refresh(bill_ids=[lines[0].bill_id for _entry, lines in entries], versions=False)


def _write(judged: _Judged, run: _BillRunState, report: BillImportReport) -> None:
    ids = _create(judged.new, run)
    new = list(zip(judged.new, ids, strict=True))
    # A bill seen for the first time already cancelled: issued, then cancelled, so that its
    # ledger and history read like any other cancelled bill's.
    revised = judged.revised + [(row, pk) for row, pk in new if row.cancelled]
    if revised:
        _revise(revised, run, report)
    _update_rows(
        Bill,
        ("tariff_unknown", "tariff_version_id", "updated_at"),
        [
            (row.tariff_unknown, row.tariff_version_id, run.now, pk)
            for row, pk in judged.tariff_changed
        ],
    )
    _credit_apply(new, run, report)
    # The cached bill tables and dashboard cards of these accounts are stale from this
    # transaction's commit on: one UPDATE for the batch (portal/fragments.py).
    accounts_changed(
        account_ids={row.account_id for row in judged.new}
        | {row.account_id for row, _pk in judged.revised}
        | {row.account_id for row, _pk in judged.tariff_changed}
    )
    # The people bound to the accounts hear of bills issued in the last few days (a backfill of
    # history mails nobody): no query unless some are, then a few for the batch and one task.
    bills_issued_notify(
        bills=[(pk, row.account_id, row.issue_date) for row, pk in new if not row.cancelled],
        today=run.today,
    )
    report.created += len(judged.new)
    report.updated += len(judged.revised) + len(judged.tariff_changed)
    report.unchanged += judged.unchanged


# --- The run -------------------------------------------------------------------------------------


class _BillImport:
    """Bills, as ``import_run`` drives them (portal/core/interchange.py)."""

    lock = LOCK
    audit_action = AUDIT_ACTION
    required = frozenset(BILL_COLUMNS)
    # Rows are read and checked in a thread of their own while the database writes the batch
    # before (``interchange._ahead``): ``clean`` needs nothing but the row and ``bounds``.
    parse_ahead = True

    def __init__(self, *, file_name: str, actor):
        self.file_name, self.actor = file_name, actor
        self.run: Run | None = None
        self.state: _BillRunState | None = None
        self.bounds: Bounds | None = None

    def optional(self, fmt: str) -> frozenset[str]:
        return OPTIONAL_COLUMNS.get(fmt, frozenset())

    def begin(self, run: Run) -> None:
        self.run = run
        self.state = _BillRunState.load(file_name=self.file_name, actor=self.actor)
        self.bounds = Bounds.current()

    def clean(self, line: int, record: dict) -> tuple[_Row | None, str, list[str]]:
        return _clean(line, record, self.bounds)

    def duplicate(self, key: str, first: int) -> str:
        return _("bill number %(number)s already appears on line %(first)s") % {
            "number": key,
            "first": first,
        }

    def write(self, batch: list[_Row]) -> None:
        judged = _judge(batch, self.state, self.run.report, self.run.reject)
        if self.run.keeping:
            _write(judged, self.state, self.run.report)


def bills_import(
    *,
    stream,
    fmt: str,
    file_name: str,
    strict: bool = False,
    actor=None,
    client: IntegrationClient | None = None,
    on_reject: Callable[[RowError], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> BillImportReport:
    """Import the bills in ``stream`` (binary, CSV or JSON Lines) and report what happened;
    the contract of ``portal.core.interchange.import_run`` (errors, rejects, progress, who
    asked)."""
    file_name = printable_name(file_name)
    return import_run(
        _BillImport(file_name=file_name, actor=actor),
        stream=stream,
        fmt=fmt,
        report=BillImportReport(file_name=file_name, format=fmt, strict=strict),
        actor=actor,
        client=client,
        on_reject=on_reject,
        on_progress=on_progress,
        batch_size=batch_size,
    )
