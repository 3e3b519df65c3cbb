"""An organisation's monthly statement (电费月结单) as a PDF: its bills of the month, the money
received on its accounts in the month, and the online payments its people made in the month,
with totals. Read for one member: only the accounts their membership may view (administrators:
all), and 404 for a member who may view none.

The month is a billing month for bills (the month a bill's period ends in, as on the bill list
and the CSV statement), and a business month in Asia/Shanghai for money: ledger entries by
their business date, online payments by the time they were paid.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404

from portal.core import clock
from portal.core.money import ZERO
from portal.models import Membership, Organisation, Scope
from portal.selectors import org_bindings_for

from .ledger import SETTLEMENT_KINDS
from .models import AttemptBill, AttemptStatus, BillStatus, Book, LedgerLine, PaymentChannel
from .pdf import render_pdf
from .selectors import STATEMENT_FIELDS, org_statement_rows

FIRST_YEAR = 2000
"""Older months are not asked for: a URL naming one is "not found"."""


@dataclass(frozen=True)
class StatementBill:
    number: str
    account_number: str
    holder_name: str
    period_start: date
    period_end: date
    kwh: Decimal
    amount: Decimal
    paid: Decimal
    """Everything paid on it: towards the amount and the penalty."""
    penalty_charged: Decimal
    outstanding: Decimal
    """The amount still unpaid (without the penalty, which grows daily)."""
    status: str
    status_label: str
    due_date: date

    @property
    def cancelled(self) -> bool:
        return self.status == BillStatus.CANCELLED


@dataclass(frozen=True)
class MoneyReceived:
    """One payment (or refund: negative) posted to a bill of the month's accounts."""

    day: date
    account_number: str
    bill_number: str
    channel_label: str
    reference: str
    amount: Decimal


@dataclass
class OnlinePayment:
    """One online payment made for the organisation, with the bills of it the member may view."""

    reference: str
    paid_at: datetime
    payment_method: str
    items: list[AttemptBill] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((item.total for item in self.items), ZERO)


@dataclass(frozen=True)
class Statement:
    organisation: Organisation
    month: date
    """The first day of the month."""
    generated_at: datetime
    """Asia/Shanghai."""
    account_count: int
    """How many accounts the statement covers (those the member may view)."""
    bills: list[StatementBill]
    received: list[MoneyReceived]
    online: list[OnlinePayment]

    @property
    def counted_bills(self) -> list[StatementBill]:
        """The bills in the totals: a cancelled bill is listed, but nothing is owed on it."""
        return [bill for bill in self.bills if not bill.cancelled]

    @property
    def bills_kwh(self) -> Decimal:
        return sum((bill.kwh for bill in self.counted_bills), Decimal("0"))

    @property
    def bills_amount(self) -> Decimal:
        return sum((bill.amount for bill in self.counted_bills), ZERO)

    @property
    def bills_paid(self) -> Decimal:
        return sum((bill.paid for bill in self.counted_bills), ZERO)

    @property
    def bills_penalty(self) -> Decimal:
        return sum((bill.penalty_charged for bill in self.counted_bills), ZERO)

    @property
    def bills_outstanding(self) -> Decimal:
        return sum((bill.outstanding for bill in self.counted_bills), ZERO)

    @property
    def received_total(self) -> Decimal:
        return sum((row.amount for row in self.received), ZERO)

    @property
    def online_total(self) -> Decimal:
        return sum((payment.total for payment in self.online), ZERO)


def statement_month(*, year: int, month: int) -> date:
    """The first day of the month a URL names, or 404 (no such month, or one still to come)."""
    this_month = clock.today().replace(day=1)
    if not (1 <= month <= 12 and FIRST_YEAR <= year <= this_month.year):
        raise Http404
    first = date(year, month, 1)
    if first > this_month:
        raise Http404
    return first


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _bills(membership: Membership, month: date) -> list[StatementBill]:
    statuses = dict(BillStatus.choices)
    bills = []
    for row in org_statement_rows(membership=membership, first=month, last=month):
        values = dict(zip(STATEMENT_FIELDS, row, strict=True))
        outstanding = ZERO
        if values["status"] != BillStatus.CANCELLED:
            outstanding = max(values["amount"] - values["principal_paid"], ZERO)
        bills.append(
            StatementBill(
                number=values["number"],
                account_number=values["account__number"],
                holder_name=values["account__holder_name"],
                period_start=values["period_start"],
                period_end=values["period_end"],
                kwh=values["kwh"],
                amount=values["amount"],
                paid=values["principal_paid"] + values["penalty_paid"],
                penalty_charged=values["penalty_charged"],
                outstanding=outstanding,
                status=values["status"],
                status_label=str(statuses.get(values["status"], values["status"])),
                due_date=values["due_date"],
            )
        )
    return bills


def _received(accounts: QuerySet, month: date) -> list[MoneyReceived]:
    """Money in (payments through every channel) and out (refunds) on the accounts' bills,
    from the ledger's cash lines, by business date."""
    channels = dict(PaymentChannel.choices)
    lines = (
        LedgerLine.objects.filter(
            account_id__in=accounts,
            book=Book.CASH,
            entry__kind__in=SETTLEMENT_KINDS,
            entry__effective_date__gte=month,
            entry__effective_date__lt=_next_month(month),
        )
        .order_by("entry__effective_date", "entry_id", "pk")
        .values_list(
            "entry__effective_date",
            "account__number",
            "bill__number",
            "entry__channel",
            "entry__reference",
            "amount",
        )
    )
    return [
        MoneyReceived(day, account, bill or "", str(channels.get(channel, "")), reference, amount)
        for day, account, bill, channel, reference, amount in lines
    ]


def _online(membership: Membership, accounts: QuerySet, month: date) -> list[OnlinePayment]:
    """The organisation's online payments paid in the month, each with the bills of it on the
    accounts the member may view (a payment may span accounts they may not)."""
    start, end = clock.day_start(month), clock.day_start(_next_month(month))
    items = (
        AttemptBill.objects.filter(
            attempt__organisation_id=membership.organisation_id,
            attempt__status=AttemptStatus.SUCCEEDED,
            attempt__paid_at__gte=start,
            attempt__paid_at__lt=end,
            bill__account_id__in=accounts,
        )
        .select_related("attempt", "bill__account")
        .order_by("attempt__paid_at", "attempt_id", "bill__account__number", "bill__number")
    )
    payments: dict[int, OnlinePayment] = {}
    for item in items:
        attempt = item.attempt
        payment = payments.get(attempt.pk)
        if payment is None:
            payment = payments[attempt.pk] = OnlinePayment(
                reference=attempt.reference,
                paid_at=clock.localtime(attempt.paid_at),
                payment_method=attempt.payment_method,
            )
        payment.items.append(item)
    return list(payments.values())


def org_statement_for(*, membership: Membership, year: int, month: int) -> Statement:
    """The statement of the month for ``membership``; 404 if the month is not one that has
    begun, or if the member may view none of the organisation's accounts. Four queries."""
    first = statement_month(year=year, month=month)
    visible = org_bindings_for(membership=membership, scope=Scope.VIEW)
    account_count = visible.count()
    if not account_count:
        raise Http404
    # A subquery, not a list of ids: an organisation may have more accounts than SQLite takes
    # parameters.
    accounts = visible.values("account_id")
    return Statement(
        organisation=membership.organisation,
        month=first,
        generated_at=clock.localtime(),
        account_count=account_count,
        bills=_bills(membership, first),
        received=_received(accounts, first),
        online=_online(membership, accounts, first),
    )


def statement_pdf(*, statement: Statement) -> bytes:
    """The statement as a PDF, in Chinese."""
    return render_pdf(
        "payments/pdf/statement.html", {"s": statement, "company": settings.COMPANY_NAME}
    )
