"""Credit on an account (an overpayment, money paid on a cancelled bill) pays the next bill the
billing system issues for it, in the bill import (payments/bill_import.py; docs/bills.md).
Every test ends with the ledger summing to zero. Runs on SQLite and on PostgreSQL."""

import io
import json
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payments.bill_import import bills_import
from payments.ledger import account_credit
from payments.models import Bill, BillStatus, Book, EntryKind, LedgerEntry
from payments.selectors import bill_payments_received
from portal.models import AuditEvent
from tests.factories import BillFactory, ServiceAccountFactory, pay
from tests.payments.test_ledger import assert_ledger_balances, balance

pytestmark = pytest.mark.django_db
D = Decimal


def bill_record(account, number, amount, **overrides) -> dict:
    return {
        "bill_number": number,
        "account_number": account.number,
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "issue_date": "2026-11-05",
        "due_date": "2026-11-20",
        "kwh": "260",
        "amount": amount,
        "tariff_code": "RES-TIER-M",
    } | overrides


def import_bills(*records: dict, **kwargs):
    body = "".join(json.dumps(record) + "\n" for record in records).encode()
    return bills_import(stream=io.BytesIO(body), fmt="jsonl", file_name="bills.jsonl", **kwargs)


def overpaid(account, extra: str):
    """A bill of ``account`` paid before its due date with ``extra`` more than it asked."""
    bill = BillFactory(account=account, amount=D("110.00"))
    pay(bill, D("110.00") + D(extra), date(2026, 10, 15))
    assert account_credit(account_id=account.pk) == D(extra)
    return bill


def last_import_audit() -> dict:
    return json.loads(AuditEvent.objects.filter(action="bills.imported").latest("seq").data)


def test_an_overpayment_pays_part_of_the_next_bill():
    account = ServiceAccountFactory()
    overpaid(account, "40.00")

    report = import_bills(bill_record(account, "B202610001", "128.46"))

    new = Bill.objects.get(number="B202610001")
    assert new.status == BillStatus.PARTLY_PAID
    assert new.principal_paid == D("40.00")
    assert new.principal_outstanding == D("88.46")
    assert account_credit(account_id=account.pk) == 0
    (entry,) = LedgerEntry.objects.filter(kind=EntryKind.CREDIT_APPLIED)
    assert entry.effective_date == date(2026, 11, 5)  # the bill's issue date
    assert entry.reference == "B202610001"
    assert balance(Book.CUSTOMER_CREDIT, bill=new) == D("40.00")
    assert balance(Book.RECEIVABLE, bill=new) == D("88.46")
    assert (report.credit_applied, report.credit_amount) == (1, D("40.00"))
    assert last_import_audit()["credit_applied"] == {"bills": 1, "amount": "40.00"}
    assert_ledger_balances()


def test_credit_larger_than_the_bill_pays_it_and_the_rest_stays():
    account = ServiceAccountFactory()
    overpaid(account, "200.00")

    import_bills(bill_record(account, "B202610001", "128.46"))

    new = Bill.objects.get(number="B202610001")
    assert new.status == BillStatus.PAID
    assert new.settled_on == date(2026, 11, 5)
    assert account_credit(account_id=account.pk) == D("71.54")
    assert_ledger_balances()


def test_the_bill_page_shows_the_credit_used_as_money_received():
    account = ServiceAccountFactory()
    overpaid(account, "40.00")

    import_bills(bill_record(account, "B202610001", "128.46"))

    (row,) = bill_payments_received(bill=Bill.objects.get(number="B202610001"))
    assert row.kind == EntryKind.CREDIT_APPLIED
    assert (row.received, row.to_amount, row.to_penalty, row.to_credit) == (
        D("40.00"),
        D("40.00"),
        D("0.00"),
        D("0.00"),
    )


def test_credit_goes_to_the_bill_due_first_when_several_arrive_together():
    account = ServiceAccountFactory()
    overpaid(account, "150.00")

    import_bills(
        bill_record(
            account, "B202611001", "100.00", due_date="2026-12-20", issue_date="2026-12-05"
        ),
        bill_record(account, "B202610001", "100.00"),
    )

    october, november = Bill.objects.get(number="B202610001"), Bill.objects.get(number="B202611001")
    assert (october.status, october.principal_paid) == (BillStatus.PAID, D("100.00"))
    assert (november.status, november.principal_paid) == (BillStatus.PARTLY_PAID, D("50.00"))
    assert account_credit(account_id=account.pk) == 0
    assert_ledger_balances()


def test_money_paid_on_a_cancelled_bill_pays_its_replacement_in_the_same_file():
    account = ServiceAccountFactory()
    import_bills(bill_record(account, "B202610001", "128.46"))
    pay(Bill.objects.get(number="B202610001"), "128.46", date(2026, 11, 10))

    import_bills(
        bill_record(account, "B202610001", "128.46", status="cancelled"),
        bill_record(account, "B202610001R", "120.00"),
    )

    replacement = Bill.objects.get(number="B202610001R")
    assert replacement.status == BillStatus.PAID
    assert account_credit(account_id=account.pk) == D("8.46")
    assert_ledger_balances()


def test_importing_the_same_file_again_uses_no_more_credit():
    account = ServiceAccountFactory()
    overpaid(account, "40.00")
    import_bills(bill_record(account, "B202610001", "128.46"))

    report = import_bills(bill_record(account, "B202610001", "128.46"))

    assert report.unchanged == 1
    assert report.credit_applied == 0
    assert LedgerEntry.objects.filter(kind=EntryKind.CREDIT_APPLIED).count() == 1
    assert last_import_audit()["credit_applied"] == {"bills": 0, "amount": "0.00"}


def test_only_accounts_with_credit_are_touched_and_each_batch_asks_once():
    with_credit, without = ServiceAccountFactory(), ServiceAccountFactory()
    overpaid(with_credit, "10.00")
    records = [
        bill_record(account, f"B2026{index:05d}{suffix}", "50.00")
        for index in range(30)
        for account, suffix in ((with_credit, "A"), (without, "B"))
    ]

    with CaptureQueriesContext(connection) as queries:
        report = import_bills(*records, batch_size=20)

    assert report.created == 60
    assert (report.credit_applied, report.credit_amount) == (1, D("10.00"))
    assert LedgerEntry.objects.filter(kind=EntryKind.CREDIT_APPLIED).count() == 1
    assert not Bill.objects.filter(account=without).exclude(status=BillStatus.OPEN).exists()
    credit_reads = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT") and "customer_credit" in query["sql"]
    ]
    assert len(credit_reads) == 3  # one per batch of 20
    assert_ledger_balances()
