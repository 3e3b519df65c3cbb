"""Importing bills from billing-system files: `manage.py import_bills` and the service behind it
(payments/bill_import.py; docs/integration.md). Every test that imports ends with the ledger
still summing to zero. Runs on SQLite and on PostgreSQL (DATABASE_URL=postgres://...)."""

import csv
import hashlib
import io
import json
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum
from django.test import Client
from django.utils import translation

from payments.bill_import import BILL_COLUMNS, bills_import
from payments.bills import bill_owed
from payments.ledger import account_credit
from payments.models import (
    Bill,
    BillRevision,
    BillStatus,
    Book,
    EntryKind,
    LedgerEntry,
    LedgerLine,
    Tariff,
    TariffVersion,
)
from portal.core import clock
from portal.core.interchange import InterchangeError
from portal.core.jobs import ExitStatus
from portal.integration import integration_client_create
from portal.models import AuditEvent, IntegrationScope
from tests.factories import ServiceAccountFactory, pay

pytestmark = pytest.mark.django_db

D = Decimal
HEADER = ",".join(BILL_COLUMNS)
ACCOUNT = "3100050001"


@pytest.fixture(autouse=True)
def _english():
    """The messages asserted below are the English source strings."""
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def account():
    return ServiceAccountFactory(number=ACCOUNT, customer_class="residential")


@pytest.fixture(autouse=True)
def tariff():
    """RES-TIER-M with a price change on 2026-10-15: a bill for October takes the new version."""
    tariff = Tariff.objects.create(code="RES-TIER-M", name="居民阶梯电价（月度）", kind="tiered")
    for day in (date(2020, 1, 1), date(2026, 10, 15)):
        TariffVersion.objects.create(
            tariff=tariff,
            effective_from=day,
            unit_price=D("0.4883"),
            tier_period="monthly",
            tier1_limit_kwh=D("230"),
            tier2_limit_kwh=D("400"),
        )
    return tariff


# --- Helpers ------------------------------------------------------------------------------------


def values(number="B202610001", **overrides) -> dict:
    return {
        "bill_number": number,
        "account_number": ACCOUNT,
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "issue_date": "2026-11-05",
        "due_date": "2026-11-20",
        "kwh": "260",
        "amount": "128.46",
        "tariff_code": "RES-TIER-M",
    } | overrides


def csv_row(number="B202610001", **overrides) -> str:
    row = values(number, **overrides)
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(
        row[column] for column in (*BILL_COLUMNS, "status") if column in row
    )
    return out.getvalue()


def csv_file(*rows: str, status=False) -> bytes:
    header = HEADER + (",status" if status else "")
    return ("\n".join([header, *rows]) + "\n").encode()


def jsonl_file(*records: dict) -> bytes:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode()


def tier_lines(first="112.31", second="16.15") -> list[dict]:
    return [
        {"kind": "tier", "label": "第一档", "kwh": "230", "unit_price": "0.4883", "amount": first},
        {"kind": "tier", "label": "第二档", "kwh": "30", "unit_price": "0.5383", "amount": second},
    ]


def import_bytes(content: bytes, fmt="csv", **kwargs):
    return bills_import(stream=io.BytesIO(content), fmt=fmt, file_name=f"bills.{fmt}", **kwargs)


def run(path, *args, status=ExitStatus.DONE):
    """Run the command; return (stdout, stderr). Expecting a status other than 0, check it and
    add the CommandError's message to stderr, as the shell shows it; otherwise a CommandError
    propagates with its returncode."""
    out, err = io.StringIO(), io.StringIO()
    if status == ExitStatus.DONE:
        call_command("import_bills", str(path), *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()
    with pytest.raises(CommandError) as stopped:
        call_command("import_bills", str(path), *args, stdout=out, stderr=err)
    assert stopped.value.returncode == status
    return out.getvalue(), err.getvalue() + str(stopped.value)


def write(tmp_path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def reasons(report) -> dict[int, str]:
    return {error.line: error.reason for error in report.errors}


def import_audits():
    return list(AuditEvent.objects.filter(action="bills.imported").order_by("seq"))


def balance(book: str, **filters) -> Decimal:
    total = LedgerLine.objects.filter(book=book, **filters).aggregate(total=Sum("amount"))["total"]
    return D(total or 0).quantize(D("0.01"))


def assert_ledger_balances():
    """Every entry sums to zero (summed in Decimal: SQLite sums decimals as floats)."""
    by_entry: dict[int, Decimal] = defaultdict(Decimal)
    for entry_id, amount in LedgerLine.objects.values_list("entry_id", "amount"):
        by_entry[entry_id] += amount
    assert {entry: total for entry, total in by_entry.items() if total != 0} == {}


def entries(kind: str) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(kind=kind).prefetch_related("lines"))


def lines_of(entry: LedgerEntry) -> dict[str, Decimal]:
    return {line.book: line.amount for line in entry.lines.all()}


# --- Importing new bills ------------------------------------------------------------------------


def test_a_good_csv_creates_each_bill_open_and_on_the_ledger():
    content = csv_file(csv_row(), csv_row("B202609001", period_start="2026-09-01",
                                          period_end="2026-09-30", issue_date="2026-10-05",
                                          due_date="2026-10-20", amount="99.00"))  # fmt: skip

    report = import_bytes(content)

    assert report.counts == {
        "rows": 2, "created": 2, "updated": 0, "unchanged": 0, "rejected": 0, "flagged": 0,
    }  # fmt: skip
    bill = Bill.objects.get(number="B202610001")
    assert (bill.account.number, bill.amount, bill.kwh) == (ACCOUNT, D("128.46"), D("260"))
    assert (bill.period_start, bill.due_date) == (date(2026, 10, 1), date(2026, 11, 20))
    assert bill.status == BillStatus.OPEN
    assert bill.principal_paid == 0
    assert not bill.tariff_unknown
    # The version in force on the period's last day: the one of 2026-10-15, not the older one.
    assert bill.tariff_version.effective_from == date(2026, 10, 15)
    september = Bill.objects.get(number="B202609001")
    assert september.tariff_version.effective_from == date(2020, 1, 1)
    (issued, _other) = sorted(entries(EntryKind.BILL_ISSUED), key=lambda e: e.reference)
    assert issued.reference == "B202609001"
    assert issued.effective_date == date(2026, 10, 5)  # the issue date
    assert balance(Book.RECEIVABLE, bill=bill) == D("128.46")
    assert balance(Book.ENERGY_REVENUE, bill=bill) == D("-128.46")
    assert_ledger_balances()


def test_jsonl_lines_are_stored_in_order_with_their_prices():
    report = import_bytes(jsonl_file(values(lines=tier_lines())), fmt="jsonl")

    assert report.created == 1
    lines = list(Bill.objects.get().lines.order_by("position"))
    assert [(x.kind, x.label, x.kwh, x.unit_price, x.amount) for x in lines] == [
        ("tier", "第一档", D("230"), D("0.4883"), D("112.31")),
        ("tier", "第二档", D("30"), D("0.5383"), D("16.15")),
    ]


def test_jsonl_numbers_may_be_json_numbers():
    record = values(kwh=260, amount=128.46, lines=None)

    report = import_bytes(jsonl_file(record), fmt="jsonl")

    assert report.created == 1
    assert Bill.objects.get().amount == D("128.46")


def test_a_bill_of_nothing_is_paid_from_the_start():
    import_bytes(csv_file(csv_row(kwh="0", amount="0.00")))

    bill = Bill.objects.get()
    assert bill.status == BillStatus.PAID
    assert not LedgerLine.objects.exists()
    assert bill_owed(bill=bill, as_of=date(2027, 6, 1)).total == 0


def test_importing_the_same_file_twice_changes_nothing_not_even_updated_at():
    content = jsonl_file(values(lines=tier_lines()), values("B202610002", amount="0.00", kwh="0"))
    import_bytes(content, fmt="jsonl")
    before = dict(Bill.objects.values_list("number", "updated_at"))
    ledger_lines = LedgerLine.objects.count()

    report = import_bytes(content, fmt="jsonl")

    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert dict(Bill.objects.values_list("number", "updated_at")) == before
    assert LedgerLine.objects.count() == ledger_lines
    assert not BillRevision.objects.exists()


def test_an_unknown_tariff_is_imported_and_flagged_until_staff_define_it():
    content = csv_file(csv_row(tariff_code="RES-NEW-2027"))

    report = import_bytes(content)

    assert (report.created, report.flagged) == (1, 1)
    bill = Bill.objects.get()
    assert bill.tariff_unknown
    assert bill.tariff_version is None

    tariff = Tariff.objects.create(code="RES-NEW-2027", name="新电价", kind="flat")
    version = TariffVersion.objects.create(
        tariff=tariff, effective_from=date(2026, 1, 1), unit_price=D("0.5")
    )
    report = import_bytes(content)

    assert (report.updated, report.flagged) == (1, 0)
    bill.refresh_from_db()
    assert not bill.tariff_unknown
    assert bill.tariff_version == version
    assert not BillRevision.objects.exists()  # our knowledge changed, not the bill


# --- Rejected rows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"amount": "-5.00"}, "amount must not be negative"),
        ({"amount": "12.345"}, "amount has more than 2 decimal places (12.345)"),
        ({"amount": "12,30"}, 'amount must be a number like 123.45, not "12,30"'),
        ({"amount": ""}, "amount is empty"),
        ({"kwh": "-1"}, "kwh must not be negative"),
        ({"kwh": "1e3"}, 'kwh must be a number like 123.45, not "1e3"'),
        ({"period_end": "2026-02-30"}, "period_end: 2026-02-30 is not a date that exists"),
        ({"due_date": "2026-13-01"}, "due_date: 2026-13-01 is not a date that exists"),
        ({"issue_date": "05/11/2026"}, 'must be a date written YYYY-MM-DD, not "05/11/2026"'),
        ({"issue_date": "20261105"}, 'issue_date must be a date written YYYY-MM-DD, not "2026'),
        ({"period_start": "2026-11-01"}, "period_end is before period_start"),
        ({"due_date": "2026-11-04"}, "due_date is before issue_date"),
        ({"account_number": "31000５0001"}, "account_number must be 6 to 20 digits"),
        ({"bill_number": "B 2026"}, "bill_number must be 1 to 40 letters, digits"),
        ({"tariff_code": ""}, "tariff_code is empty"),
        ({"status": "void"}, 'status must be issued or cancelled, not "void"'),
    ],
)  # fmt: skip
def test_impossible_values_are_rejected_with_line_and_reason(overrides, reason):
    content = csv_file(csv_row("B1", status="issued"), csv_row(**{"status": "issued"} | overrides),
                       status=True)  # fmt: skip

    report = import_bytes(content)

    assert report.rejected == 1
    assert reason in reasons(report)[3]
    assert report.created == 1  # the good row was imported
    assert_ledger_balances()


def test_every_problem_of_a_row_is_reported_at_once():
    report = import_bytes(csv_file(csv_row(amount="1.234", period_end="2026-02-30", kwh="-3")))

    assert reasons(report)[2] == "; ".join(
        [
            "period_end: 2026-02-30 is not a date that exists",
            "kwh must not be negative",
            "amount has more than 2 decimal places (1.234)",
        ]
    )


def test_reasons_are_written_in_the_language_of_whoever_runs_the_import():
    """The rows are read and checked in a thread of their own; its reasons still speak the
    caller's language."""
    content = csv_file(csv_row(), csv_row("B202610002", amount="12.345"))

    with translation.override("zh-hans"):
        report = import_bytes(content, batch_size=1)

    assert report.created == 1
    (reason,) = reasons(report).values()
    assert reason == "amount 的小数位数超过 2 位（12.345）"


def test_an_unknown_account_is_rejected():
    report = import_bytes(csv_file(csv_row(account_number="3199999999")))

    assert reasons(report) == {2: "account 3199999999 is not known: import the account first"}
    assert not Bill.objects.exists()


def test_a_bill_number_repeated_in_a_file_is_rejected_naming_the_first_line():
    report = import_bytes(csv_file(csv_row(), csv_row("B2"), csv_row(amount="1.00")))

    assert reasons(report) == {4: "bill number B202610001 already appears on line 2"}
    assert Bill.objects.get(number="B202610001").amount == D("128.46")


def test_duplicates_are_caught_across_batches():
    rows = [csv_row(f"B{n:04d}") for n in range(25)] + [csv_row("B0003")]

    report = import_bytes(csv_file(*rows), batch_size=10)

    assert report.created == 25
    assert reasons(report) == {27: "bill number B0003 already appears on line 5"}


def test_a_malformed_csv_row_is_rejected_with_its_line():
    report = import_bytes(csv_file(csv_row(), "B9,3100050001,2026-10-01", csv_row("B3")))

    assert reasons(report) == {3: "expected 9 fields, found 3"}
    assert report.created == 2


def test_lines_that_do_not_add_up_to_the_amount_are_rejected():
    report = import_bytes(jsonl_file(values(lines=tier_lines(second="16.16"))), fmt="jsonl")

    assert reasons(report) == {1: "the lines add up to 128.47, not to the amount 128.46"}
    assert not Bill.objects.exists()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ({"kind": "peak"}, 'lines item 1: kind must be one of tier, band, not "peak"'),
        ({"unit_price": "0.4883001"}, "lines item 1: unit_price has more than 6 decimal places"),
        ({"amount": "-1.00"}, "lines item 1: amount must not be negative"),
        ({"label": ""}, "lines item 1: label is empty"),
    ],
)
def test_a_bad_line_is_rejected_naming_the_item(line, reason):
    first, second = tier_lines()
    report = import_bytes(jsonl_file(values(lines=[first | line, second])), fmt="jsonl")

    assert reason in reasons(report)[1]
    assert not Bill.objects.exists()


def test_jsonl_lines_must_be_a_list_of_exact_objects():
    record = values(lines=[{"kind": "tier", "label": "x", "kwh": "1", "amount": "1"}])

    report = import_bytes(jsonl_file(record, values("B2", lines="230 kWh")), fmt="jsonl")

    assert reasons(report) == {
        1: "lines item 1: it must be an object with exactly the keys kind, label, kwh, "
        "unit_price, amount",
        2: "lines must be a list of objects",
    }


def test_a_bill_number_of_another_account_is_rejected():
    ServiceAccountFactory(number="3100050002")
    import_bytes(csv_file(csv_row()))

    report = import_bytes(csv_file(csv_row(account_number="3100050002")))

    assert reasons(report) == {
        2: "bill number B202610001 belongs to account 3100050001, not 3100050002"
    }


def test_a_csv_file_may_not_carry_lines():
    with pytest.raises(InterchangeError, match='Unknown column.*"lines"'):
        import_bytes(csv_file(csv_row()).replace(b"tariff_code", b"tariff_code,lines", 1))


# --- Encodings ----------------------------------------------------------------------------------


def test_a_gbk_file_from_excel_on_windows_is_read_correctly(tmp_path):
    content = csv_file(csv_row(tariff_code="居民阶梯电价")).decode().encode("gbk")

    out, _err = run(write(tmp_path, "bills-gbk.csv", content))

    assert "1 created" in out
    assert Bill.objects.get().tariff_code == "居民阶梯电价"


def test_a_utf16_file_is_refused_and_nothing_imported(tmp_path):
    content = csv_file(csv_row()).decode().encode("utf-16")

    with pytest.raises(CommandError, match="neither UTF-8 nor GBK") as refused:
        run(write(tmp_path, "bills.csv", content))

    assert refused.value.returncode == 2
    assert not Bill.objects.exists()
    assert import_audits() == []


# --- Strict -------------------------------------------------------------------------------------


def test_strict_imports_nothing_on_one_bad_row_and_exits_with_status_4(tmp_path):
    rows = [csv_row(f"B{n:04d}") for n in range(30)] + [csv_row("B9999", amount="1.001")]
    path = write(tmp_path, "bills.csv", csv_file(*rows))

    with pytest.raises(CommandError, match="nothing was imported") as refused:
        call_command("import_bills", str(path), "--strict", stdout=(out := io.StringIO()))

    assert refused.value.returncode == ExitStatus.REFUSED == 4
    assert "line 32: amount has more than 2 decimal places (1.001)" in out.getvalue()
    assert not Bill.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert import_audits() == []


def test_strict_also_refuses_on_a_row_the_database_rejects():
    """An unknown account is found only when the batch meets the database: still nothing."""
    rows = [csv_row(f"B{n:04d}") for n in range(15)] + [csv_row("B9", account_number="3100099999")]

    report = import_bytes(csv_file(*rows), strict=True, batch_size=10)

    assert not report.committed
    assert report.created == 0
    assert reasons(report) == {17: "account 3100099999 is not known: import the account first"}
    assert not Bill.objects.exists()


def test_strict_with_a_clean_file_imports_it():
    report = import_bytes(csv_file(csv_row(), csv_row("B2")), strict=True)

    assert report.committed
    assert Bill.objects.count() == 2


# --- A bill number seen again -------------------------------------------------------------------


def test_a_new_amount_on_an_unpaid_bill_replaces_it_with_a_history_entry():
    import_bytes(jsonl_file(values(lines=tier_lines())), fmt="jsonl")
    bill = Bill.objects.get()

    corrected = values(kwh="250", amount="123.08", due_date="2026-11-25", lines=None)
    report = import_bytes(jsonl_file(corrected), fmt="jsonl")

    assert (report.updated, report.replaced, report.adjusted) == (1, 1, 0)
    bill.refresh_from_db()
    assert (bill.amount, bill.kwh, bill.due_date) == (D("123.08"), D("250"), date(2026, 11, 25))
    assert bill.status == BillStatus.OPEN
    assert not bill.lines.exists()  # the row is the bill's whole state
    (revision,) = bill.revisions.all()
    assert (revision.kind, revision.old_amount, revision.new_amount) == (
        "replaced", D("128.46"), D("123.08"),
    )  # fmt: skip
    assert revision.source == "bills.jsonl line 1"
    (revised,) = entries(EntryKind.BILL_REVISED)
    assert lines_of(revised) == {Book.RECEIVABLE: D("-5.38"), Book.ENERGY_REVENUE: D("5.38")}
    assert revised.effective_date == clock.today()
    assert balance(Book.RECEIVABLE, bill=bill) == D("123.08")
    assert bill_owed(bill=bill, as_of=date(2026, 11, 25)).total == D("123.08")
    assert_ledger_balances()


def test_a_new_amount_on_a_partly_paid_bill_posts_a_visible_adjustment():
    import_bytes(csv_file(csv_row(amount="100.00")))
    bill = Bill.objects.get()
    pay(bill, "40.00", date(2026, 11, 10))

    report = import_bytes(csv_file(csv_row(amount="130.00", kwh="280")))

    assert (report.replaced, report.adjusted) == (0, 1)
    bill.refresh_from_db()
    assert bill.amount == D("130.00")
    assert bill.status == BillStatus.PARTLY_PAID
    assert bill.principal_paid == D("40.00")
    (revision,) = bill.revisions.all()
    assert (revision.kind, revision.old_amount, revision.new_amount) == (
        "adjusted", D("100.00"), D("130.00"),
    )  # fmt: skip
    (adjusted,) = entries(EntryKind.BILL_ADJUSTED)
    assert lines_of(adjusted) == {Book.RECEIVABLE: D("30.00"), Book.ENERGY_REVENUE: D("-30.00")}
    # The first entries stay: the bill's ledger tells the whole story.
    assert len(entries(EntryKind.BILL_ISSUED)) == 1
    assert bill_owed(bill=bill, as_of=date(2026, 11, 20)).total == D("90.00")
    assert_ledger_balances()


def test_the_same_amount_with_other_values_changed_replaces_the_bill_without_an_entry():
    """A corrected due date or kWh with the amount unchanged: the bill takes the new values and
    keeps its history; nothing is owed differently, so no ledger entry (there is nothing to
    post), and the rest of the file is imported as usual."""
    import_bytes(jsonl_file(values(lines=tier_lines()), values("B202610002")), fmt="jsonl")
    bill = Bill.objects.get(number="B202610001")
    entries_before = LedgerEntry.objects.count()

    corrected = values(kwh="261", due_date="2026-11-25", lines=None)
    report = import_bytes(jsonl_file(corrected, values("B202610003")), fmt="jsonl")

    assert (report.created, report.updated, report.rejected) == (1, 1, 0)
    assert (report.replaced, report.adjusted) == (1, 0)
    bill.refresh_from_db()
    assert (bill.amount, bill.kwh, bill.due_date) == (D("128.46"), D("261"), date(2026, 11, 25))
    assert bill.status == BillStatus.OPEN
    assert not bill.lines.exists()
    (revision,) = bill.revisions.all()
    assert (revision.kind, revision.old_amount, revision.new_amount, revision.new_kwh) == (
        "replaced", D("128.46"), D("128.46"), D("261"),
    )  # fmt: skip
    assert not entries(EntryKind.BILL_REVISED)
    assert LedgerEntry.objects.count() == entries_before + 1  # the new bill's only
    assert balance(Book.RECEIVABLE, bill=bill) == D("128.46")
    assert len(import_audits()) == 2
    assert_ledger_balances()


def test_the_same_amount_with_other_values_changed_on_a_partly_paid_bill_is_adjusted():
    import_bytes(csv_file(csv_row(amount="100.00")))
    bill = Bill.objects.get()
    pay(bill, "40.00", date(2026, 11, 10))

    report = import_bytes(csv_file(csv_row(amount="100.00", due_date="2026-11-30")))

    assert (report.updated, report.replaced, report.adjusted, report.rejected) == (1, 0, 1, 0)
    bill.refresh_from_db()
    assert (bill.amount, bill.due_date) == (D("100.00"), date(2026, 11, 30))
    assert (bill.status, bill.principal_paid) == (BillStatus.PARTLY_PAID, D("40.00"))
    (revision,) = bill.revisions.all()
    assert (revision.kind, revision.old_amount, revision.new_amount) == (
        "adjusted", D("100.00"), D("100.00"),
    )  # fmt: skip
    assert not entries(EntryKind.BILL_ADJUSTED)
    assert bill_owed(bill=bill, as_of=date(2026, 11, 30)).total == D("60.00")
    assert_ledger_balances()


def test_lowering_a_paid_bill_below_what_was_paid_turns_the_excess_into_credit():
    import_bytes(csv_file(csv_row(amount="110.00")))
    bill = Bill.objects.get()
    pay(bill, "110.00", date(2026, 11, 10))

    import_bytes(csv_file(csv_row(amount="100.00")))

    bill.refresh_from_db()
    assert bill.status == BillStatus.PAID
    assert bill_owed(bill=bill, as_of=date(2026, 12, 31)).total == 0
    (adjusted,) = entries(EntryKind.BILL_ADJUSTED)
    assert lines_of(adjusted) == {
        Book.ENERGY_REVENUE: D("10.00"),
        Book.CUSTOMER_CREDIT: D("-10.00"),
    }
    assert account_credit(account_id=bill.account_id) == D("10.00")
    assert balance(Book.RECEIVABLE, bill=bill) == 0
    assert_ledger_balances()


def test_cancelling_an_unpaid_bill_leaves_nothing_owed():
    import_bytes(csv_file(csv_row()))
    bill = Bill.objects.get()

    report = import_bytes(csv_file(csv_row(status="cancelled"), status=True))

    assert (report.updated, report.cancelled) == (1, 1)
    bill.refresh_from_db()
    assert bill.status == BillStatus.CANCELLED
    assert bill_owed(bill=bill, as_of=date(2027, 3, 1)).total == 0
    assert balance(Book.RECEIVABLE, bill=bill) == 0
    assert balance(Book.ENERGY_REVENUE, bill=bill) == 0
    (revision,) = bill.revisions.all()
    assert (revision.kind, revision.old_amount, revision.new_amount) == (
        "cancelled", D("128.46"), D("0.00"),
    )  # fmt: skip
    assert account_credit(account_id=bill.account_id) == 0
    assert_ledger_balances()


def test_cancelling_a_late_partly_paid_bill_returns_everything_paid_as_credit():
    import_bytes(csv_file(csv_row(amount="100.00")))
    bill = Bill.objects.get()
    pay(bill, "100.00", date(2026, 11, 30))  # 10 days late: the 1-yuan minimum, charged
    bill.refresh_from_db()
    assert (bill.penalty_charged, bill.penalty_paid) == (D("1.00"), D("0.00"))
    pay(bill, "0.50", date(2026, 12, 1))  # half of the penalty

    import_bytes(csv_file(csv_row(amount="100.00", status="cancelled"), status=True))

    bill.refresh_from_db()
    assert bill.status == BillStatus.CANCELLED
    assert bill_owed(bill=bill, as_of=date(2027, 3, 1)).total == 0
    assert account_credit(account_id=bill.account_id) == D("100.50")
    for book in (Book.RECEIVABLE, Book.PENALTY_RECEIVABLE, Book.ENERGY_REVENUE):
        assert balance(book, bill=bill) == 0
    assert_ledger_balances()


def test_a_cancelled_bill_cannot_be_reissued():
    import_bytes(csv_file(csv_row(status="cancelled"), status=True))

    report = import_bytes(csv_file(csv_row()))

    assert reasons(report) == {2: "cancelled bills cannot be reissued; use a new bill number"}
    assert Bill.objects.get().status == BillStatus.CANCELLED


def test_a_cancelled_bill_cancelled_again_is_unchanged():
    content = csv_file(csv_row(status="cancelled"), status=True)
    import_bytes(content)
    ledger_lines = LedgerLine.objects.count()

    report = import_bytes(content)

    assert (report.unchanged, report.cancelled) == (1, 0)
    assert LedgerLine.objects.count() == ledger_lines


def test_a_bill_first_seen_cancelled_is_created_cancelled():
    report = import_bytes(csv_file(csv_row(status="cancelled"), status=True))

    assert (report.created, report.cancelled) == (1, 1)
    bill = Bill.objects.get()
    assert bill.status == BillStatus.CANCELLED
    assert bill_owed(bill=bill, as_of=date(2027, 1, 1)).total == 0
    assert [e.kind for e in LedgerEntry.objects.order_by("pk")] == ["bill_issued", "bill_cancelled"]
    assert_ledger_balances()


# --- Audit and the command ----------------------------------------------------------------------


def test_each_run_writes_exactly_one_audit_record_with_the_file_hash(tmp_path):
    content = csv_file(*(csv_row(f"B{n:03d}") for n in range(12)))
    path = write(tmp_path, "bills-202611.csv", content)

    run(path)
    run(path)

    first, second = import_audits()
    data = json.loads(first.data)
    assert data["file"] == str(path)
    assert data["sha256"] == hashlib.sha256(content).hexdigest()
    assert data["counts"]["created"] == 12
    assert data["revisions"] == {"replaced": 0, "adjusted": 0, "cancelled": 0}
    assert first.actor_role == "system"
    assert json.loads(second.data)["counts"]["unchanged"] == 12
    # The audit record is the run's last write: nothing after it in the log.
    assert AuditEvent.objects.order_by("-seq").first().pk == second.pk


def test_the_command_lists_every_rejected_row_sums_up_and_exits_with_status_3(tmp_path):
    path = write(tmp_path, "bills.csv", csv_file(csv_row(), csv_row("B2", amount="-1")))

    out, err = run(path, status=ExitStatus.NEEDS_PERSON)

    assert "line 3: amount must not be negative" in out
    assert "2 rows: 1 created, 0 updated, 0 unchanged, 1 rejected, 0 flagged" in out
    assert "1 row(s) were rejected" in err
    assert Bill.objects.get().number == "B202610001"


def test_the_format_comes_from_the_extension_or_format(tmp_path):
    path = write(tmp_path, "bills.txt", jsonl_file(values()))

    with pytest.raises(CommandError, match="--format") as refused:
        run(path)
    assert refused.value.returncode == 2

    out, _err = run(path, "--format", "jsonl")
    assert "1 created" in out


def test_a_file_that_fails_while_being_read_exits_with_status_2():
    # Reading /proc/self/mem from its start fails with an I/O error, as a failing disk would.
    with pytest.raises(CommandError, match="Input/output error") as refused:
        run("/proc/self/mem", "--format", "csv")

    assert refused.value.returncode == ExitStatus.COULD_NOT_RUN
    assert not Bill.objects.exists()


def test_a_missing_file_exits_with_status_2(tmp_path):
    with pytest.raises(CommandError, match="Cannot open") as refused:
        run(tmp_path / "nowhere.csv")

    assert refused.value.returncode == 2


def test_a_file_larger_than_a_batch_is_imported_in_a_few_queries_per_batch(
    django_assert_max_num_queries,
):
    accounts = [ServiceAccountFactory(number=f"31006{n:05d}") for n in range(3)]
    rows = [
        csv_row(f"B{n:05d}", account_number=accounts[n % 3].number, amount=f"{n}.50")
        for n in range(2500)
    ]

    # Per batch of 1,000: read accounts and bills, insert bills, entries and ledger lines (on
    # PostgreSQL with their ids drawn first): about ten, not one per row.
    with django_assert_max_num_queries(60):
        report = import_bytes(csv_file(*rows), batch_size=1000)

    assert report.created == 2500
    assert LedgerEntry.objects.filter(kind=EntryKind.BILL_ISSUED).count() == 2500
    assert_ledger_balances()


# --- Bounds and hostile input (issue 20) -------------------------------------------------------
# The clock is pinned so that the windows in the messages are fixed: today is 2026-12-06.
PINNED = datetime(2026, 12, 6, 10, 0, tzinfo=clock.BUSINESS_TIME_ZONE)
OUTSIDE = "is outside the accepted window, "
DUE_WINDOW = "2026-10-01 to 2027-04-29 (from period_start to 180 days after period_end)"
# One bad JSON Lines record of each kind a billing system can send on a bad day; each is a row
# rejected with safejson's reason, never a crash.
HOSTILE_LINES = {
    "amount of 5,000 digits": (
        '{"bill_number": "B9", "amount": ' + "9" * 5000 + "}",
        "a number has more than 40 digits",
    ),
    "a lone surrogate": ('{"bill_number": "B\\ud800"}', "a text contains a lone surrogate"),
    "100,000 nested brackets": ("[" * 100_000 + "]" * 100_000, "nested more than 32 deep"),
    "NaN": ('{"amount": NaN}', "NaN is not a JSON number"),
    "a NUL": ('{"bill_number": "B\\u0000"}', "a text contains a NUL character"),
}


def hostile_body() -> bytes:
    """A good bill on line 1, then one hostile line of each kind, then a good bill."""
    good = [json.dumps(values("B202610001")), json.dumps(values("B202610002"))]
    return ("\n".join([good[0], *(text for text, _reason in HOSTILE_LINES.values()), good[1]])
            + "\n").encode()  # fmt: skip


@pytest.mark.time_machine(PINNED, tick=False)
@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"due_date": "9999-12-31"}, f"due_date 9999-12-31 {OUTSIDE}{DUE_WINDOW}"),
        ({"due_date": "1900-01-01"}, f"due_date 1900-01-01 {OUTSIDE}{DUE_WINDOW}"),
        ({"issue_date": "1900-01-01"}, f"issue_date 1900-01-01 {OUTSIDE}{DUE_WINDOW}"),
        ({"period_start": "1900-01-01"}, "period_start 1900-01-01 is outside the accepted window, "
         "2016-12-06 to 2027-12-06 (from 10 year(s) before today to 1 year(s) after)"),
        ({"period_start": "2099-01-01", "period_end": "2099-01-31", "issue_date": "2099-02-03",
          "due_date": "2099-02-20"}, "period_start 2099-01-01 is outside the accepted window"),
        ({"amount": "1000000000.01"}, "amount 1000000000.01 is more than 1000000000, the most"),
        ({"kwh": "10000000001"}, "kwh 10000000001 is more than 10000000000, the most accepted"),
    ],
)  # fmt: skip
def test_implausible_dates_and_amounts_are_rejected_through_the_command(
    tmp_path, overrides, reason
):
    path = write(tmp_path, "bills.csv", csv_file(csv_row("B-OK"), csv_row("B-BAD", **overrides)))

    out, _err = run(path, status=ExitStatus.NEEDS_PERSON)

    assert reason in next(text for text in out.splitlines() if text.startswith("line 3: "))
    assert list(Bill.objects.values_list("number", flat=True)) == ["B-OK"]
    assert_ledger_balances()


@pytest.mark.time_machine(PINNED, tick=False)
def test_a_sentinel_due_date_under_strict_exits_4_and_stores_nothing(tmp_path):
    path = write(tmp_path, "bills.csv", csv_file(csv_row("B-OK"), csv_row(due_date="9999-12-31")))

    out, err = run(path, "--strict", status=ExitStatus.REFUSED)

    assert "line 3: due_date 9999-12-31 is outside the accepted window" in out
    assert "nothing was imported" in err
    assert not Bill.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert import_audits() == []


@pytest.mark.time_machine(PINNED, tick=False)
def test_the_bounds_follow_the_settings(settings):
    settings.IMPORT_BILL_DUE_DAYS = 10
    settings.IMPORT_MAX_AMOUNT = 100

    report = import_bytes(csv_file(csv_row()))

    reason = reasons(report)[2]
    assert "amount 128.46 is more than 100, the most accepted" in reason
    assert (
        "due_date 2026-11-20 is outside the accepted window, 2026-10-01 to 2026-11-10 (from "
        "period_start to 10 days after period_end)"
    ) in reason
    assert not Bill.objects.exists()


def test_hostile_json_lines_are_rejected_rows_through_the_command(tmp_path):
    path = write(tmp_path, "bills.jsonl", hostile_body())

    out, err = run(path, status=ExitStatus.NEEDS_PERSON)

    for line, (_name, (_text, reason)) in enumerate(HOSTILE_LINES.items(), start=2):
        assert any(text.startswith(f"line {line}: ") and reason in text
                   for text in out.splitlines()), (line, reason)  # fmt: skip
    assert f"{len(HOSTILE_LINES)} row(s) were rejected" in err
    assert set(Bill.objects.values_list("number", flat=True)) == {"B202610001", "B202610002"}
    assert_ledger_balances()


def test_hostile_json_lines_under_strict_exit_4_and_store_nothing(tmp_path):
    path = write(tmp_path, "bills.jsonl", hostile_body())

    run(path, "--strict", status=ExitStatus.REFUSED)

    assert not Bill.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert import_audits() == []


@pytest.fixture
def bills_api():
    """The integration API as the billing system calls it: a real token with bills:write."""
    _client, token = integration_client_create(
        name="CIS production", scopes=[IntegrationScope.BILLS_WRITE]
    )
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")

    def post(body: bytes, query: str = ""):
        return client.post(
            "/api/integration/v1/bills" + query,
            data=body,
            content_type="application/x-ndjson",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    return post


def test_hostile_json_lines_through_the_api_are_a_json_report_never_a_500(bills_api):
    response = bills_api(hostile_body())

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    report = response.json()
    assert (report["rows"], report["created"], report["rejected"]) == (7, 2, 5)
    for error, (_text, reason) in zip(report["errors"], HOSTILE_LINES.values(), strict=True):
        assert reason in error["reason"]
    assert [error["line"] for error in report["errors"]] == [2, 3, 4, 5, 6]


@pytest.mark.time_machine(PINNED, tick=False)
def test_a_sentinel_due_date_through_the_api_under_strict_is_422_and_stores_nothing(bills_api):
    body = jsonl_file(values("B-OK"), values(due_date="9999-12-31"))

    response = bills_api(body, "?strict=true")

    assert response.status_code == 422
    report = response.json()
    assert report["committed"] is False
    assert report["errors"] == [
        {"line": 2, "reason": f"due_date 9999-12-31 is outside the accepted window, {DUE_WINDOW}"}
    ]
    assert not Bill.objects.exists()


def test_a_file_name_with_a_nul_through_the_api_is_stored_readably(bills_api):
    # PostgreSQL refuses a NUL in text and in JSON: the name is made printable first.
    response = bills_api(jsonl_file(values()), "?file_name=bills%00%0A.jsonl")

    assert response.status_code == 200
    assert response.json()["file_name"] == "bills??.jsonl"
    assert json.loads(import_audits()[0].data)["file"] == "bills??.jsonl"
    assert LedgerEntry.objects.get().memo == "bills??.jsonl line 1"


def test_a_file_name_that_is_not_utf8_is_imported_under_a_printable_name(tmp_path):
    path = tmp_path / "bills-\udcff.csv"  # the byte 0xff, as Python names it
    path.write_bytes(csv_file(csv_row()))

    out, _err = run(path)

    assert "bills-?.csv (csv, sha256" in out
    assert json.loads(import_audits()[0].data)["file"].endswith("bills-?.csv")
