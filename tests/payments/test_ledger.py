"""The ledger: balanced entries only, append-only in the database, and what a bill's status, what
is owed and how a payment is split follow from it.

Expected penalties are worked out by hand in the comments (rules: tests/payments/test_penalties.py
and docs/bills.md). Every test that posts ends by checking that the ledger still sums to zero.
Runs on SQLite and on PostgreSQL (DATABASE_URL=postgres://...).
"""

from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import Sum

from payments.bills import bill_owed, payment_allocation
from payments.ledger import (
    Posting,
    UnbalancedEntry,
    account_credit,
    bills_refresh,
    ledger_post,
    ledger_post_many,
)
from payments.models import Bill, BillStatus, Book, EntryKind, LedgerEntry, LedgerLine
from portal.core.audit_db import audit_protection_enforced
from tests.factories import BillFactory, ServiceAccountFactory, pay

pytestmark = pytest.mark.django_db

IS_POSTGRESQL = connection.vendor == "postgresql"
D = Decimal
DUE = date(2026, 10, 20)  # BillFactory's due date


# --- Helpers ------------------------------------------------------------------------------------


def assert_ledger_balances():
    """Every entry sums to zero, and so does the whole ledger. Summed here in Decimal: SQLite sums
    decimals as binary floats."""
    by_entry: dict[int, Decimal] = defaultdict(Decimal)
    for entry_id, amount in LedgerLine.objects.values_list("entry_id", "amount"):
        by_entry[entry_id] += amount
    assert {entry: total for entry, total in by_entry.items() if total != 0} == {}
    assert sum(by_entry.values(), D("0")) == 0


def balance(book: str, **filters) -> Decimal:
    # Whole fen: SQLite's sum of decimals is a float.
    total = LedgerLine.objects.filter(book=book, **filters).aggregate(total=Sum("amount"))["total"]
    return D(total or 0).quantize(D("0.01"))


def business_bill(amount="1000.00", **kwargs) -> Bill:
    return BillFactory(
        account=ServiceAccountFactory(customer_class="lv_business", tariff_code="BIZ-FLAT"),
        amount=D(amount),
        **kwargs,
    )


def ledger_size() -> tuple[int, int]:
    return LedgerEntry.objects.count(), LedgerLine.objects.count()


def raw(sql: str):
    with connection.cursor() as cursor:
        cursor.execute(sql)


def cancel(bill: Bill):
    """Post a cancellation the way docs/bills.md describes it: the sale is reversed, what was
    unpaid leaves the receivable and what was paid becomes credit."""
    bill.refresh_from_db()
    unpaid, paid = bill.amount - bill.principal_paid, bill.principal_paid
    lines = [
        Posting(bill.account_id, Book.ENERGY_REVENUE, bill.amount, bill.pk),
        Posting(bill.account_id, Book.RECEIVABLE, -unpaid, bill.pk),
        Posting(bill.account_id, Book.CUSTOMER_CREDIT, -paid, bill.pk),
    ]
    with transaction.atomic():
        ledger_post(
            kind=EntryKind.BILL_CANCELLED,
            effective_date=date(2026, 10, 28),
            lines=[line for line in lines if line.amount],
            reference=bill.number,
        )
        bills_refresh(bill_ids=[bill.pk])
    bill.refresh_from_db()


# --- Posting: balanced, whole fen, not zero, or nothing at all ----------------------------------


def lines_for(account_id: int, pairs) -> list[Posting]:
    return [
        Posting(account_id, book, D(amount) if isinstance(amount, str) else amount)
        for book, amount in pairs
    ]


REFUSED = {
    "unbalanced": [("receivable", "10.00"), ("energy_revenue", "-9.99")],
    "a third decimal": [("receivable", "10.001"), ("energy_revenue", "-10.001")],
    "floats": [("receivable", 10.0), ("energy_revenue", -10.0)],
    "integers": [("receivable", 10), ("energy_revenue", -10)],
    "a zero line": [("receivable", "10.00"), ("energy_revenue", "-10.00"), ("cash", "0.00")],
    "no lines": [],
    "an unknown book": [("receivable", "10.00"), ("sales_tax", "-10.00")],
}


def test_a_balanced_entry_is_written_with_its_lines():
    account = ServiceAccountFactory()

    entry = ledger_post(
        kind=EntryKind.PAYMENT,
        effective_date=DUE,
        lines=lines_for(
            account.pk,
            [("cash", "110.00"), ("receivable", "-100.00"), ("customer_credit", "-10.00")],
        ),
        channel="counter",
        reference="P-1",
    )

    assert sorted(entry.lines.values_list("book", "amount")) == [
        ("cash", D("110.00")),
        ("customer_credit", D("-10.00")),
        ("receivable", D("-100.00")),
    ]
    assert account_credit(account_id=account.pk) == D("10.00")
    assert_ledger_balances()


@pytest.mark.parametrize("pairs", REFUSED.values(), ids=REFUSED.keys())
def test_ledger_post_refuses_a_bad_entry_and_writes_nothing(pairs):
    account = ServiceAccountFactory()
    before = ledger_size()

    with pytest.raises(UnbalancedEntry):
        ledger_post(kind=EntryKind.PAYMENT, effective_date=DUE, lines=lines_for(account.pk, pairs))

    assert ledger_size() == before


@pytest.mark.parametrize("pairs", REFUSED.values(), ids=REFUSED.keys())
def test_ledger_post_many_checks_every_entry_before_writing_any(pairs):
    account = ServiceAccountFactory()
    good = lines_for(account.pk, [("receivable", "10.00"), ("energy_revenue", "-10.00")])
    before = ledger_size()

    with pytest.raises(UnbalancedEntry):
        ledger_post_many(
            entries=[
                (LedgerEntry(kind=EntryKind.BILL_ISSUED, effective_date=DUE), good),
                (LedgerEntry(kind=EntryKind.BILL_ISSUED, effective_date=DUE), good),
                (
                    LedgerEntry(kind=EntryKind.BILL_ISSUED, effective_date=DUE),
                    lines_for(account.pk, pairs),
                ),
            ]
        )

    assert ledger_size() == before


def test_ledger_post_many_writes_every_entry_with_its_own_lines():
    first, second = ServiceAccountFactory(), ServiceAccountFactory()

    ledger_post_many(
        entries=[
            (
                LedgerEntry(kind=EntryKind.BILL_ISSUED, effective_date=DUE, reference="B-1"),
                lines_for(first.pk, [("receivable", "12.34"), ("energy_revenue", "-12.34")]),
            ),
            (
                LedgerEntry(kind=EntryKind.BILL_ISSUED, effective_date=DUE, reference="B-2"),
                lines_for(second.pk, [("receivable", "56.78"), ("energy_revenue", "-56.78")]),
            ),
        ]
    )

    entries = {entry.reference: entry for entry in LedgerEntry.objects.all()}
    assert set(entries) == {"B-1", "B-2"}
    assert all(entry.posted_at is not None for entry in entries.values())
    assert sorted(entries["B-1"].lines.values_list("account_id", "amount")) == [
        (first.pk, D("-12.34")),
        (first.pk, D("12.34")),
    ]
    assert sorted(entries["B-2"].lines.values_list("account_id", "amount")) == [
        (second.pk, D("-56.78")),
        (second.pk, D("56.78")),
    ]
    assert_ledger_balances()


# --- Append-only in the database ----------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE payments_ledgerline SET amount = amount * 2",
        "DELETE FROM payments_ledgerline",
        "UPDATE payments_ledgerentry SET memo = 'edited'",
        "DELETE FROM payments_ledgerentry",
    ],
)
def test_database_refuses_to_change_or_delete_ledger_rows(statement):
    bill = BillFactory(amount=D("110.00"))
    before = sorted(LedgerLine.objects.values_list("entry__memo", "book", "amount"))

    with (
        audit_protection_enforced(),
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
    ):
        raw(statement)

    assert sorted(LedgerLine.objects.values_list("entry__memo", "book", "amount")) == before
    assert balance(Book.RECEIVABLE, bill=bill) == D("110.00")


def test_database_refuses_an_update_through_the_orm_too():
    bill = BillFactory(amount=D("110.00"))

    with (
        audit_protection_enforced(),
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
    ):
        LedgerLine.objects.filter(bill=bill).update(amount=D("1.00"))

    assert balance(Book.RECEIVABLE, bill=bill) == D("110.00")


@pytest.mark.skipif(not IS_POSTGRESQL, reason="TRUNCATE exists on PostgreSQL only")
@pytest.mark.parametrize(
    "statement",
    # CASCADE: otherwise the foreign keys refuse before the trigger gets a say.
    ["TRUNCATE payments_ledgerline CASCADE", "TRUNCATE payments_ledgerentry CASCADE"],
)
def test_postgresql_refuses_to_truncate_the_ledger(statement):
    BillFactory()
    before = ledger_size()
    # The test's own inserts leave deferred foreign-key checks pending, and PostgreSQL refuses to
    # truncate a table with pending trigger events before the trigger is asked; run them now.
    raw("SET CONSTRAINTS ALL IMMEDIATE")

    with (
        audit_protection_enforced(),
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
    ):
        raw(statement)

    assert ledger_size() == before


# --- Bill status follows from the ledger --------------------------------------------------------


def test_a_new_bill_is_open_with_its_amount_receivable():
    bill = BillFactory(amount=D("110.00"))

    assert bill.status == BillStatus.OPEN
    assert (bill.principal_paid, bill.penalty_charged, bill.penalty_paid) == (0, 0, 0)
    assert bill.settled_on is None
    assert balance(Book.RECEIVABLE, bill=bill) == D("110.00")
    assert balance(Book.ENERGY_REVENUE, bill=bill) == D("-110.00")
    assert_ledger_balances()


def test_part_of_the_amount_paid_makes_the_bill_partly_paid():
    bill = BillFactory(amount=D("110.00"))

    pay(bill, "40.00", DUE)

    assert bill.status == BillStatus.PARTLY_PAID
    assert bill.principal_paid == D("40.00")
    assert bill.settled_on is None
    assert bill_owed(bill=bill, as_of=DUE).total == D("70.00")
    assert_ledger_balances()


def test_amount_paid_on_the_due_date_makes_the_bill_paid_without_penalty():
    bill = BillFactory(amount=D("110.00"))

    pay(bill, "110.00", DUE)

    assert bill.status == BillStatus.PAID
    assert (bill.principal_paid, bill.penalty_charged) == (D("110.00"), D("0.00"))
    assert bill.settled_on == DUE
    assert not LedgerEntry.objects.filter(kind=EntryKind.PENALTY_CHARGED).exists()
    owed = bill_owed(bill=bill, as_of=date(2026, 12, 1))
    assert (owed.principal, owed.penalty_due, owed.total) == (0, 0, 0)
    assert_ledger_balances()


def test_amount_paid_in_instalments_that_leave_float_dust_is_paid():
    # 2.99 - 2.98 - 0.01 is not 0 in binary floating point, which is how SQLite sums decimals.
    bill = BillFactory(amount=D("2.99"))

    pay(bill, "2.98", DUE)
    pay(bill, "0.01", DUE)

    assert bill.status == BillStatus.PAID
    assert bill.settled_on == DUE
    assert bill_owed(bill=bill, as_of=date(2026, 12, 1)).total == 0
    assert_ledger_balances()


def test_amount_paid_but_penalty_unpaid_is_partly_paid_until_the_penalty_is_paid():
    # Business, paid Oct 25: Oct 21..25 = 5 × 1000 × 0.2 % = 10.00 charged that day.
    bill = business_bill()

    pay(bill, "1000.00", date(2026, 10, 25))

    assert bill.status == BillStatus.PARTLY_PAID
    assert (bill.penalty_charged, bill.penalty_paid) == (D("10.00"), D("0.00"))

    pay(bill, "10.00", date(2026, 11, 3))

    assert bill.status == BillStatus.PAID
    assert (bill.penalty_charged, bill.penalty_paid) == (D("10.00"), D("10.00"))
    assert bill.settled_on == date(2026, 10, 25)  # the amount's settlement, not the penalty's
    assert_ledger_balances()


def test_a_cancelled_bill_owes_nothing():
    bill = BillFactory(amount=D("110.00"))

    cancel(bill)

    assert bill.status == BillStatus.CANCELLED
    assert bill_owed(bill=bill, as_of=date(2026, 12, 1)).total == 0
    assert balance(Book.RECEIVABLE, bill=bill) == 0
    assert_ledger_balances()


def test_money_paid_on_a_bill_later_cancelled_becomes_credit():
    bill = BillFactory(amount=D("110.00"))
    pay(bill, "40.00", DUE)

    cancel(bill)

    assert bill.status == BillStatus.CANCELLED
    assert account_credit(account_id=bill.account_id) == D("40.00")
    assert bill_owed(bill=bill, as_of=date(2026, 12, 1)).total == 0
    assert_ledger_balances()


def test_a_payment_towards_a_cancelled_bill_all_becomes_credit():
    bill = BillFactory(amount=D("110.00"))
    cancel(bill)

    pay(bill, "110.00", date(2026, 11, 1))

    assert bill.status == BillStatus.CANCELLED
    assert account_credit(account_id=bill.account_id) == D("110.00")
    assert_ledger_balances()


def test_refresh_puts_back_columns_changed_by_hand():
    bill = BillFactory(amount=D("110.00"))
    pay(bill, "40.00", DUE)
    Bill.objects.filter(pk=bill.pk).update(
        status=BillStatus.PAID, principal_paid=D("110.00"), settled_on=DUE
    )

    bills_refresh(bill_ids=[bill.pk])

    bill.refresh_from_db()
    assert (bill.status, bill.principal_paid, bill.settled_on) == (
        BillStatus.PARTLY_PAID,
        D("40.00"),
        None,
    )


def test_refresh_derives_each_of_many_bills_in_one_call():
    open_bill = BillFactory(amount=D("110.00"))
    partly = BillFactory(amount=D("110.00"))
    paid = BillFactory(amount=D("110.00"))
    cancelled = BillFactory(amount=D("110.00"))
    pay(partly, "10.00", DUE)
    pay(paid, "110.00", DUE)
    cancel(cancelled)
    bills = [open_bill, partly, paid, cancelled]
    Bill.objects.filter(pk__in=[b.pk for b in bills]).update(
        status=BillStatus.OPEN, principal_paid=D("0.00")
    )

    bills_refresh(bill_ids=[b.pk for b in bills])

    assert [
        (b.status, b.principal_paid)
        for b in Bill.objects.filter(pk__in=[b.pk for b in bills]).order_by("pk")
    ] == [
        (BillStatus.OPEN, D("0.00")),
        (BillStatus.PARTLY_PAID, D("10.00")),
        (BillStatus.PAID, D("110.00")),
        (BillStatus.CANCELLED, D("0.00")),
    ]
    assert_ledger_balances()


# --- What is owed, and how a payment is split ---------------------------------------------------


def test_two_late_instalments_charge_the_penalty_on_the_settlement_day():
    # docs/bills.md's example: business, 1,000.00 due 2026-12-20, 400 on Dec 25, the rest Jan 3.
    bill = business_bill(
        period_start=date(2026, 11, 1),
        period_end=date(2026, 11, 30),
        issue_date=date(2026, 12, 5),
        due_date=date(2026, 12, 20),
    )

    pay(bill, "400.00", date(2026, 12, 25))

    assert bill.status == BillStatus.PARTLY_PAID
    assert bill.penalty_charged == 0  # not charged until the amount is settled
    # Paying the rest on Dec 31: 5 × 2.00 + 6 × 600 × 0.2 % = 10.00 + 7.20 = 17.20.
    owed = bill_owed(bill=bill, as_of=date(2026, 12, 31))
    assert (owed.principal, owed.penalty_due, owed.total) == (D("600.00"), D("17.20"), D("617.20"))
    # On Jan 3: 17.20 + 3 × 600 × 0.3 % = 17.20 + 5.40 = 22.60.
    owed = bill_owed(bill=bill, as_of=date(2027, 1, 3))
    assert (owed.principal, owed.penalty_due, owed.total) == (D("600.00"), D("22.60"), D("622.60"))

    pay(bill, owed.total, date(2027, 1, 3))

    assert bill.status == BillStatus.PAID
    assert (bill.principal_paid, bill.penalty_charged, bill.penalty_paid) == (
        D("1000.00"),
        D("22.60"),
        D("22.60"),
    )
    assert bill.settled_on == date(2027, 1, 3)
    charge = LedgerEntry.objects.get(kind=EntryKind.PENALTY_CHARGED)
    assert charge.effective_date == date(2027, 1, 3)
    assert sorted(charge.lines.values_list("book", "amount")) == [
        (Book.PENALTY_RECEIVABLE, D("22.60")),
        (Book.PENALTY_REVENUE, D("-22.60")),
    ]
    assert bill_owed(bill=bill, as_of=date(2027, 3, 1)).total == 0
    assert account_credit(account_id=bill.account_id) == 0
    assert balance(Book.CASH, bill=bill) == D("1022.60")
    assert balance(Book.PENALTY_REVENUE, bill=bill) == D("-22.60")
    assert_ledger_balances()


def test_penalty_stops_when_the_amount_is_settled_even_if_the_penalty_is_unpaid():
    # Business, paid Oct 25: Oct 21..25 = 5 × 1000 × 0.2 % = 10.00.
    bill = business_bill()

    pay(bill, "1000.00", date(2026, 10, 25))

    on_the_day = bill_owed(bill=bill, as_of=date(2026, 10, 25))
    a_month_later = bill_owed(bill=bill, as_of=date(2026, 11, 25))
    assert (on_the_day.principal, on_the_day.penalty_due) == (0, D("10.00"))
    assert (a_month_later.principal, a_month_later.penalty_due) == (0, D("10.00"))
    assert len(a_month_later.penalty.days) == 5
    assert a_month_later.penalty.days[-1].day == date(2026, 10, 25)
    assert bill.settled_on == date(2026, 10, 25)
    assert_ledger_balances()


def test_overpayment_on_the_due_date_becomes_credit():
    bill = BillFactory(amount=D("110.00"))

    pay(bill, "150.00", DUE)

    assert bill.status == BillStatus.PAID
    assert account_credit(account_id=bill.account_id) == D("40.00")
    assert_ledger_balances()


def test_late_overpayment_pays_amount_then_penalty_then_credit():
    # Residential, paid Oct 30: 10 × 110 × 0.1 % = 10 × 0.11 = 1.10 (not under 1 yuan).
    # 150.00 = 110.00 amount + 1.10 penalty + 38.90 credit.
    bill = BillFactory(amount=D("110.00"))

    entry = pay(bill, "150.00", date(2026, 10, 30))

    assert sorted(entry.lines.values_list("book", "amount")) == [
        (Book.CASH, D("150.00")),
        (Book.CUSTOMER_CREDIT, D("-38.90")),
        (Book.PENALTY_RECEIVABLE, D("-1.10")),
        (Book.RECEIVABLE, D("-110.00")),
    ]
    assert bill.status == BillStatus.PAID
    assert account_credit(account_id=bill.account_id) == D("38.90")
    assert_ledger_balances()


def test_a_day_late_residential_bill_pays_the_1_yuan_minimum():
    # Oct 21: 1 × 110 × 0.1 % = 0.11, under 1 yuan: 1.00.
    bill = BillFactory(amount=D("110.00"))

    pay(bill, "110.00", date(2026, 10, 21))

    assert (bill.status, bill.penalty_charged) == (BillStatus.PARTLY_PAID, D("1.00"))
    assert bill_owed(bill=bill, as_of=date(2026, 12, 1)).total == D("1.00")
    assert_ledger_balances()


@pytest.mark.parametrize(
    ("amount", "split"),
    [
        # Business 1000 due Oct 20, paying on Oct 30: 10 × 2.00 = 20.00 penalty.
        # (principal, penalty charged now, penalty paid, credit)
        ("500.00", ("500.00", "0.00", "0.00", "0.00")),  # amount not settled: no charge yet
        ("1000.00", ("1000.00", "20.00", "0.00", "0.00")),  # settled: charged, left owing
        ("1015.00", ("1000.00", "20.00", "15.00", "0.00")),
        ("1020.00", ("1000.00", "20.00", "20.00", "0.00")),
        ("1030.00", ("1000.00", "20.00", "20.00", "10.00")),
    ],
)
def test_payment_allocation_takes_the_amount_first_then_the_penalty_then_credit(amount, split):
    bill = business_bill()

    allocation = payment_allocation(bill=bill, amount=D(amount), on_date=date(2026, 10, 30))

    assert (
        allocation.principal,
        allocation.penalty_charge,
        allocation.penalty,
        allocation.credit,
    ) == tuple(D(x) for x in split)


def test_paying_what_is_shown_as_owed_settles_the_bill_exactly():
    # Business 1000 due Oct 20, 300 paid on Oct 22; on Nov 10:
    # Oct 21..22: 2 × 1000 × 0.2 % = 4.00; Oct 23..Nov 10 (9 + 10 = 19 days) × 700 × 0.2 % =
    # 19 × 1.40 = 26.60; 30.60 penalty, 730.60 in all.
    bill = business_bill()
    pay(bill, "300.00", date(2026, 10, 22))

    owed = bill_owed(bill=bill, as_of=date(2026, 11, 10))
    assert owed.total == D("730.60")
    pay(bill, owed.total, date(2026, 11, 10))

    assert bill.status == BillStatus.PAID
    assert account_credit(account_id=bill.account_id) == 0
    assert_ledger_balances()
