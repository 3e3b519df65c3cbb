"""Importing payments made through other channels (counter, bank direct debit, other apps):
`manage.py import_payments` and the service behind it (payments/payment_import.py;
docs/integration.md). Penalties are worked out by hand in the comments (docs/bills.md). Every
test that posts ends with the ledger still summing to zero. Runs on SQLite and on PostgreSQL."""

import csv
import hashlib
import io
import json
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import translation

from payments.bill_import import bills_import
from payments.bills import bill_owed
from payments.ledger import account_credit
from payments.models import (
    Bill,
    BillStatus,
    EntryKind,
    LedgerEntry,
    LedgerLine,
    OutsidePayment,
)
from payments.payment_import import PAYMENT_COLUMNS, payments_import
from portal.core import clock
from portal.core.jobs import ExitStatus
from portal.integration import integration_client_create
from portal.models import AuditEvent, IntegrationScope
from tests.factories import BillFactory, ServiceAccountFactory, pay

pytestmark = pytest.mark.django_db

D = Decimal
HEADER = ",".join(PAYMENT_COLUMNS)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def bill() -> Bill:
    """A residential bill of 110.00 due on 2026-10-20 (0.1 % a day late)."""
    return BillFactory(number="B202609001", amount=D("110.00"))


@pytest.fixture
def business_bill() -> Bill:
    """A business bill of 1,000.00 due on 2026-10-20 (0.2 % a day late in 2026)."""
    account = ServiceAccountFactory(customer_class="lv_business", tariff_code="LV-BIZ-FLAT")
    return BillFactory(number="B202609002", account=account, amount=D("1000.00"))


def row(reference="CIS-PAY-0001", bill="B202609001", **overrides) -> str:
    record = {
        "payment_reference": reference,
        "bill_number": bill,
        "amount": "110.00",
        "paid_at": "2026-10-15T09:30:00+08:00",
        "channel": "counter",
    } | overrides
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(record[column] for column in PAYMENT_COLUMNS)
    return out.getvalue()


def csv_file(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def import_bytes(content: bytes, fmt="csv", **kwargs):
    return payments_import(
        stream=io.BytesIO(content), fmt=fmt, file_name=f"payments.{fmt}", **kwargs
    )


def reasons(report) -> dict[int, str]:
    return {error.line: error.reason for error in report.errors}


def run(path, *args, status=ExitStatus.DONE):
    """Run the command; return (stdout, stderr). Expecting a status other than 0, check it and
    add the CommandError's message to stderr, as the shell shows it; otherwise a CommandError
    propagates with its returncode."""
    out, err = io.StringIO(), io.StringIO()
    if status == ExitStatus.DONE:
        call_command("import_payments", str(path), *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()
    with pytest.raises(CommandError) as stopped:
        call_command("import_payments", str(path), *args, stdout=out, stderr=err)
    assert stopped.value.returncode == status
    return out.getvalue(), err.getvalue() + str(stopped.value)


def write(tmp_path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def assert_ledger_balances():
    by_entry: dict[int, Decimal] = defaultdict(Decimal)
    for entry_id, amount in LedgerLine.objects.values_list("entry_id", "amount"):
        by_entry[entry_id] += amount
    assert {entry: total for entry, total in by_entry.items() if total != 0} == {}


def fresh(bill: Bill) -> Bill:
    return Bill.objects.select_related("account").get(pk=bill.pk)


# --- Posting ------------------------------------------------------------------------------------


def test_an_outside_payment_is_posted_to_its_bill_and_recorded(bill):
    report = import_bytes(csv_file(row(channel="bank_debit")))

    assert report.counts == {
        "rows": 1, "created": 1, "updated": 0, "unchanged": 0, "rejected": 0, "flagged": 0,
    }  # fmt: skip
    payment = OutsidePayment.objects.get()
    assert (payment.reference, payment.bill, payment.amount) == ("CIS-PAY-0001", bill, D("110"))
    assert payment.paid_at == datetime(2026, 10, 15, 1, 30, tzinfo=UTC)
    assert payment.channel == "bank_debit"
    entry = payment.entry
    assert (entry.kind, entry.channel, entry.reference) == ("payment", "bank_debit", "CIS-PAY-0001")
    assert entry.effective_date == date(2026, 10, 15)
    bill = fresh(bill)
    assert bill.status == BillStatus.PAID
    assert bill.settled_on == date(2026, 10, 15)
    assert bill_owed(bill=bill, as_of=date(2026, 12, 1)).total == 0
    assert_ledger_balances()


def test_an_outside_payment_stops_the_penalty_from_its_date(business_bill):
    bill = business_bill
    # Unpaid, 30 days late on 2026-11-19: 1,000.00 × 0.2 % × 30 = 60.00.
    before = bill_owed(bill=bill, as_of=date(2026, 11, 19))
    assert (before.principal, before.penalty_due) == (D("1000.00"), D("60.00"))

    # Paid at the counter on 2026-10-30, 10 days late: 1,000.00 × 0.2 % × 10 = 20.00 is charged
    # that day and no more accrues, so the 20.00 is all that is owed a month later.
    import_bytes(
        csv_file(row(bill=bill.number, amount="1000.00", paid_at="2026-10-30T16:05:00+08:00"))
    )

    bill = fresh(bill)
    after = bill_owed(bill=bill, as_of=date(2026, 11, 19))
    assert (after.principal, after.penalty_due) == (D("0.00"), D("20.00"))
    assert bill.penalty_charged == D("20.00")
    assert bill.settled_on == date(2026, 10, 30)
    assert bill.status == BillStatus.PARTLY_PAID
    penalty = LedgerEntry.objects.get(kind=EntryKind.PENALTY_CHARGED)
    assert penalty.effective_date == date(2026, 10, 30)
    assert_ledger_balances()


def test_a_part_payment_lowers_the_penalty_from_the_next_day(business_bill):
    bill = business_bill
    import_bytes(
        csv_file(row(bill=bill.number, amount="400.00", paid_at="2026-10-25T11:00:00+08:00"))
    )

    # 21-25 Oct on 1,000.00 (5 × 2.00) and 26-30 Oct on 600.00 (5 × 1.20): 16.00.
    owed = bill_owed(bill=fresh(bill), as_of=date(2026, 10, 30))
    assert (owed.principal, owed.penalty_due) == (D("600.00"), D("16.00"))
    assert fresh(bill).status == BillStatus.PARTLY_PAID
    assert_ledger_balances()


def test_instalments_in_one_file_settle_the_bill_and_its_penalty(business_bill):
    bill = business_bill
    # One file, four payments towards one bill (the import refreshes the bill once per batch):
    # 400.00 on 25 Oct; 600.00 on 30 Oct settles the amount, charging 5 × 2.00 + 5 × 1.20 =
    # 16.00; 10.00 and 6.00 on 2 Nov pay the penalty.
    report = import_bytes(
        csv_file(
            row("P1", bill=bill.number, amount="400.00", paid_at="2026-10-25T09:00:00+08:00"),
            row("P2", bill=bill.number, amount="600.00", paid_at="2026-10-30T09:00:00+08:00"),
            row("P3", bill=bill.number, amount="10.00", paid_at="2026-11-02T09:00:00+08:00"),
            row("P4", bill=bill.number, amount="6.00", paid_at="2026-11-02T10:00:00+08:00"),
        )
    )

    assert report.created == 4 and not report.rejected
    bill = fresh(bill)
    assert bill.status == BillStatus.PAID
    assert (bill.principal_paid, bill.penalty_charged, bill.penalty_paid) == (
        D("1000.00"),
        D("16.00"),
        D("16.00"),
    )
    assert bill.settled_on == date(2026, 10, 30)
    assert bill_owed(bill=bill, as_of=date(2026, 12, 31)).total == 0
    assert account_credit(account_id=bill.account_id) == 0
    assert_ledger_balances()


def test_a_time_without_offset_is_beijing_time_and_its_date_is_the_business_date(bill):
    # 23:30 in Beijing on the due date: on time, no penalty.
    import_bytes(csv_file(row(paid_at="2026-10-20T23:30:00")))

    payment = OutsidePayment.objects.get()
    assert payment.paid_at == datetime(2026, 10, 20, 15, 30, tzinfo=UTC)
    assert payment.entry.effective_date == date(2026, 10, 20)
    assert fresh(bill).penalty_charged == 0


def test_a_utc_time_counts_on_its_beijing_date(bill):
    # 16:30 UTC on the due date is 00:30 the next day in Beijing: one day late, and the 0.11
    # of one day at 0.1 % is raised to the 1-yuan minimum.
    import_bytes(csv_file(row(amount="111.00", paid_at="2026-10-20T16:30:00Z")))

    bill = fresh(bill)
    assert OutsidePayment.objects.get().entry.effective_date == date(2026, 10, 21)
    assert (bill.penalty_charged, bill.penalty_paid) == (D("1.00"), D("1.00"))
    assert bill.status == BillStatus.PAID
    assert_ledger_balances()


def test_paying_more_than_is_owed_leaves_credit_on_the_account(bill):
    import_bytes(csv_file(row(amount="150.00")))

    assert account_credit(account_id=bill.account_id) == D("40.00")
    assert fresh(bill).status == BillStatus.PAID
    assert_ledger_balances()


def test_a_payment_towards_a_cancelled_bill_is_held_as_credit_and_flagged(bill):
    bills_import(
        stream=io.BytesIO(
            b"bill_number,account_number,period_start,period_end,issue_date,due_date,kwh,"
            b"amount,tariff_code,status\n"
            + f"{bill.number},{bill.account.number},2026-09-01,2026-09-30,2026-10-05,"
            f"2026-10-20,200,110.00,RES-TIER-M,cancelled\n".encode()
        ),
        fmt="csv",
        file_name="cancel.csv",
    )

    report = import_bytes(csv_file(row()))

    assert (report.created, report.flagged) == (1, 1)
    assert account_credit(account_id=bill.account_id) == D("110.00")
    assert fresh(bill).status == BillStatus.CANCELLED
    assert_ledger_balances()


# --- Idempotency --------------------------------------------------------------------------------


def test_the_same_payment_reported_twice_is_one_payment(bill, tmp_path):
    path = write(tmp_path, "payments.csv", csv_file(row(amount="50.00")))
    run(path)
    ledger_lines = LedgerLine.objects.count()

    out, _err = run(path)

    assert "1 rows: 0 payments posted, 1 already imported, 0 rejected" in out
    assert OutsidePayment.objects.count() == 1
    assert LedgerLine.objects.count() == ledger_lines
    assert fresh(bill).principal_paid == D("50.00")


def test_a_known_reference_with_other_values_is_rejected(bill):
    import_bytes(csv_file(row(amount="50.00")))

    report = import_bytes(csv_file(row(amount="60.00", channel="other_app")))

    assert reasons(report) == {
        2: "payment reference CIS-PAY-0001 was imported before with other values "
        "(amount 50.00, channel counter)"
    }
    assert OutsidePayment.objects.get().amount == D("50.00")


def test_a_reference_repeated_in_a_file_is_rejected_naming_the_first_line(bill):
    report = import_bytes(csv_file(row(amount="10.00"), row(amount="10.00")))

    assert reasons(report) == {3: "payment reference CIS-PAY-0001 already appears on line 2"}
    assert OutsidePayment.objects.count() == 1


def test_the_same_payment_through_the_api_and_a_file_is_still_one(bill):
    """The billing system may send a payment in a file and again in a call."""
    import_bytes(csv_file(row()))
    body = json.dumps(
        {
            "payment_reference": "CIS-PAY-0001",
            "bill_number": bill.number,
            "amount": "110.00",
            "paid_at": "2026-10-15T01:30:00Z",  # the same moment, written in UTC
            "channel": "counter",
        }
    )

    report = import_bytes((body + "\n").encode(), fmt="jsonl")

    assert (report.created, report.unchanged) == (0, 1)


# --- Rejected rows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"amount": "0.00"}, "amount must be more than 0"),
        ({"amount": "-5"}, "amount must not be negative"),
        ({"amount": "10.005"}, "amount has more than 2 decimal places (10.005)"),
        ({"paid_at": "2026-02-30T10:00:00"}, "paid_at: 2026-02-30T10:00:00 is not a time that"),
        ({"paid_at": "2026-10-15"}, 'like 2026-11-05T14:30:00+08:00, not "2026-10-15"'),
        ({"paid_at": "2099-01-01T00:00:00+08:00"}, "paid_at is in the future"),
        ({"channel": "portal"}, 'must be one of counter, bank_debit, other_app, not "portal"'),
        ({"payment_reference": ""}, "payment_reference is empty"),
        ({"bill": "B404"}, "bill B404 is not known: import the bill first"),
    ],
)  # fmt: skip
def test_impossible_payments_are_rejected_with_line_and_reason(bill, overrides, reason):
    bill_number = overrides.pop("bill", bill.number)
    content = csv_file(row("CIS-PAY-OK", amount="1.00"), row(bill=bill_number, **overrides))

    report = import_bytes(content)

    assert report.rejected == 1
    assert reason in reasons(report)[3]
    assert OutsidePayment.objects.get().reference == "CIS-PAY-OK"
    assert_ledger_balances()


def test_a_payment_dated_before_the_bills_last_payment_is_rejected(business_bill):
    bill = business_bill
    content = csv_file(
        row("P1", bill=bill.number, amount="100.00", paid_at="2026-10-25T10:00:00"),
        row("P2", bill=bill.number, amount="100.00", paid_at="2026-10-24T10:00:00"),
        row("P3", bill=bill.number, amount="100.00", paid_at="2026-10-25T08:00:00"),
    )

    report = import_bytes(content)

    assert reasons(report) == {
        3: "bill B202609002 already has a payment dated 2026-10-25, after this one: payments "
        "towards a bill must arrive in the order they were made"
    }
    # The same day is fine: a day's payments count for the whole day whatever their order.
    assert set(OutsidePayment.objects.values_list("reference", flat=True)) == {"P1", "P3"}


def test_a_payment_older_than_one_already_on_the_ledger_is_rejected(bill):
    pay(bill, "10.00", date(2026, 10, 18))

    report = import_bytes(csv_file(row(amount="10.00", paid_at="2026-10-17T10:00:00")))

    assert "already has a payment dated 2026-10-18" in reasons(report)[2]


def test_a_gbk_file_is_read_correctly(bill, tmp_path):
    content = csv_file(row("柜台-000123")).decode().encode("gbk")

    out, _err = run(write(tmp_path, "payments-gbk.csv", content))

    assert "1 payments posted" in out
    assert OutsidePayment.objects.get().reference == "柜台-000123"


# --- Strict, audit ------------------------------------------------------------------------------


def test_strict_imports_nothing_on_one_bad_row_and_exits_with_status_4(bill, tmp_path):
    path = write(
        tmp_path, "payments.csv", csv_file(row("P1", amount="10.00"), row("P2", bill="B0"))
    )

    with pytest.raises(CommandError, match="nothing was imported") as refused:
        run(path, "--strict")

    assert refused.value.returncode == ExitStatus.REFUSED
    assert not OutsidePayment.objects.exists()
    assert not LedgerEntry.objects.filter(kind=EntryKind.PAYMENT).exists()
    assert fresh(bill).status == BillStatus.OPEN
    assert not AuditEvent.objects.filter(action="payments.imported").exists()


def test_each_run_writes_exactly_one_audit_record(bill, tmp_path):
    content = csv_file(row("P1", amount="10.00"), row("P2", amount="20.00"), row("P3", bill="B0"))
    path = write(tmp_path, "payments.csv", content)

    run(path, status=ExitStatus.NEEDS_PERSON)
    run(path, status=ExitStatus.NEEDS_PERSON)

    first, second = AuditEvent.objects.filter(action="payments.imported").order_by("seq")
    data = json.loads(first.data)
    assert data["sha256"] == hashlib.sha256(content).hexdigest()
    assert data["counts"] == {
        "rows": 3, "created": 2, "updated": 0, "unchanged": 0, "rejected": 1, "flagged": 0,
    }  # fmt: skip
    assert json.loads(second.data)["counts"]["unchanged"] == 2
    assert AuditEvent.objects.order_by("-seq").first().pk == second.pk


# --- Bounds and hostile input (issue 20) -------------------------------------------------------
# Today is 2026-12-06, 10:00 in Beijing (02:00 UTC).
PINNED = datetime(2026, 12, 6, 10, 0, tzinfo=clock.BUSINESS_TIME_ZONE)


@pytest.mark.time_machine(PINNED, tick=False)
@pytest.mark.parametrize(
    ("paid_at", "reason"),
    [
        # Converting these to Beijing time overflows: they must be refused before.
        ("0001-01-01T00:00:00+08:00", "paid_at 0001-01-01T00:00:00+08:00 is more than 10 year(s) "
         "ago: the earliest accepted is 2016-12-06 (Beijing time)"),
        ("0001-01-01T00:00:00+14:00", "is more than 10 year(s) ago"),
        ("9999-12-31T23:59:59-12:00", "paid_at is in the future: 9999-12-31T23:59:59-12:00 is more "
         "than 300 seconds after the portal's clock (2026-12-06T10:00:00+08:00)"),
        ("9999-12-31 23:59:59", "paid_at is in the future"),
        ("2016-12-05T23:59:59+08:00", "is more than 10 year(s) ago"),
        ("2026-12-06T10:05:01+08:00", "paid_at is in the future"),
    ],
)  # fmt: skip
def test_implausible_payment_times_are_rejected_through_the_command(
    bill, tmp_path, paid_at, reason
):
    content = csv_file(row("P-OK", amount="1.00"), row("P-BAD", paid_at=paid_at))

    out, _err = run(write(tmp_path, "payments.csv", content), status=ExitStatus.NEEDS_PERSON)

    assert reason in next(text for text in out.splitlines() if text.startswith("line 3: "))
    assert OutsidePayment.objects.get().reference == "P-OK"
    assert_ledger_balances()


@pytest.mark.time_machine(PINNED, tick=False)
def test_a_payment_within_the_clock_skew_or_ten_years_back_is_accepted(bill):
    content = csv_file(
        row("P-UTC", amount="1.00", paid_at="2016-12-05T16:00:00Z"),  # 2016-12-06 00:00 Beijing
        row("P-SKEW", amount="1.00", paid_at="2026-12-06T10:04:59+08:00"),
    )

    report = import_bytes(content)

    assert (report.created, report.rejected) == (2, 0)


@pytest.mark.time_machine(PINNED, tick=False)
def test_a_payment_above_the_maximum_amount_is_rejected(bill, settings):
    settings.IMPORT_MAX_AMOUNT = 50

    report = import_bytes(csv_file(row(amount="50.01")))

    assert reasons(report) == {2: "amount 50.01 is more than 50, the most accepted"}
    assert not OutsidePayment.objects.exists()


HOSTILE_LINES = {
    "paid_at of year 1": (
        '{"payment_reference": "P-Y1", "bill_number": "B202609001", "amount": "1.00", '
        '"paid_at": "0001-01-01T00:00:00+08:00", "channel": "counter"}',
        "is more than 10 year(s) ago",
    ),
    "paid_at of year 9999": (
        '{"payment_reference": "P-Y9999", "bill_number": "B202609001", "amount": "1.00", '
        '"paid_at": "9999-12-31T23:59:59-12:00", "channel": "counter"}',
        "paid_at is in the future",
    ),
    "amount of 5,000 digits": ('{"amount": ' + "1" * 5000 + "}", "more than 40 digits"),
    "a lone surrogate": ('{"payment_reference": "\\udfff"}', "a lone surrogate"),
    "100,000 nested brackets": ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested"),
}


def hostile_body() -> bytes:
    good = json.dumps(
        {
            "payment_reference": "P-OK",
            "bill_number": "B202609001",
            "amount": "10.00",
            "paid_at": "2026-10-15T09:30:00+08:00",
            "channel": "counter",
        }
    )
    return ("\n".join([good, *(text for text, _reason in HOSTILE_LINES.values())]) + "\n").encode()


def test_hostile_json_lines_are_rejected_rows_through_the_command(bill, tmp_path):
    out, err = run(
        write(tmp_path, "payments.jsonl", hostile_body()), status=ExitStatus.NEEDS_PERSON
    )

    for line, (_text, reason) in enumerate(HOSTILE_LINES.values(), start=2):
        assert reason in next(
            text for text in out.splitlines() if text.startswith(f"line {line}: ")
        )
    assert "5 row(s) were rejected" in err
    assert OutsidePayment.objects.get().reference == "P-OK"
    assert_ledger_balances()


def test_hostile_json_lines_under_strict_exit_4_and_store_nothing(bill, tmp_path):
    run(write(tmp_path, "payments.jsonl", hostile_body()), "--strict", status=ExitStatus.REFUSED)

    assert not OutsidePayment.objects.exists()
    assert not LedgerEntry.objects.filter(kind=EntryKind.PAYMENT).exists()
    assert not AuditEvent.objects.filter(action="payments.imported").exists()


@pytest.fixture
def payments_api():
    """The integration API as the billing system calls it: a real token with bills:write."""
    _client, token = integration_client_create(
        name="CIS production", scopes=[IntegrationScope.BILLS_WRITE]
    )
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")

    def post(body: bytes, query: str = ""):
        return client.post(
            "/api/integration/v1/payments" + query,
            data=body,
            content_type="application/x-ndjson",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    return post


def test_hostile_json_lines_through_the_api_are_a_json_report_never_a_500(bill, payments_api):
    response = payments_api(hostile_body())

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    report = response.json()
    assert (report["rows"], report["created"], report["rejected"]) == (6, 1, 5)
    assert [error["line"] for error in report["errors"]] == [2, 3, 4, 5, 6]
    for error, (_text, reason) in zip(report["errors"], HOSTILE_LINES.values(), strict=True):
        assert reason in error["reason"]


def test_hostile_json_lines_through_the_api_under_strict_are_422(bill, payments_api):
    response = payments_api(hostile_body(), "?strict=true")

    assert response.status_code == 422
    assert response.json()["rejected"] == 5
    assert not OutsidePayment.objects.exists()
    assert fresh(bill).status == BillStatus.OPEN
