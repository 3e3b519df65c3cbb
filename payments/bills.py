"""What is owed on a bill today, and how a payment towards it is split.

Shared by the bill pages, the outside-payment import and (next) the pay page, so what a customer
is shown is what they are charged. A payment goes first to the bill's amount, then, once the
amount is settled, to the penalty (charged on that day, when it stops accruing), and anything
left becomes credit on the account (docs/bills.md).
"""

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.cache import cache

from portal.core.money import ZERO
from portal.models import User

from .ledger import SETTLEMENT_KINDS, Posting, bills_refresh, ledger_post
from .models import Bill, BillStatus, Book, EntryKind, LedgerEntry, LedgerLine, PenaltyRule
from .penalties import NO_PENALTY, Penalty, PenaltyUnknown, Rule, penalty_for

logger = logging.getLogger(__name__)

FAULT_REPORT_SECONDS = 24 * 3600
"""A bill whose penalty cannot be worked out is logged for staff at most once a day."""


def fault_report_once(*, key: str, message: str, args: tuple = ()) -> bool:
    """Log a fault in the data for staff, once a day per ``key`` (logger ``payments.bills``,
    level ERROR). Every page view and job that meets the fault calls this; the cache (Redis,
    shared by every process) lets one line a day through, so the log is not flooded by page views
    and still reminds staff daily until the data is fixed. A table would keep each fault for
    good, but needs a migration and a screen; a payment that skipped a penalty is recorded for
    good anyway, in its ledger entry's memo. Returns True if it logged."""
    if not cache.add(f"payments:fault:{key}", True, timeout=FAULT_REPORT_SECONDS):
        return False
    logger.error(message, *args)
    return True


def penalty_fault_report(*, bill: Bill, unknown: PenaltyUnknown) -> bool:
    """Tell staff, once a day, that ``bill``'s penalty cannot be worked out, and why."""
    return fault_report_once(
        key=f"penalty:{bill.pk}:{unknown.reason}:{unknown.day.isoformat()}",
        message="penalty of bill %s cannot be worked out: %s (%s); the customer is told and may"
        " pay the amount without it",
        args=(bill.number, unknown.detail, unknown.reason),
    )


def penalty_rules() -> list[PenaltyRule]:
    """The rules, oldest first: read once per request or import, then passed around."""
    return list(PenaltyRule.objects.order_by("effective_from"))


def bill_payments(*, bill_ids: Iterable[int]) -> dict[int, list[tuple[date, Decimal]]]:
    """(business date, amount) of everything paid towards each bill's amount, in one query."""
    paid: dict[int, list[tuple[date, Decimal]]] = defaultdict(list)
    rows = (
        LedgerLine.objects.filter(
            bill_id__in=list(bill_ids),
            book=Book.RECEIVABLE,
            entry__kind__in=SETTLEMENT_KINDS,
        )
        .order_by("entry__effective_date", "pk")
        .values_list("bill_id", "entry__effective_date", "amount")
    )
    for bill_id, day, amount in rows:
        paid[bill_id].append((day, -amount))
    return paid


@dataclass(frozen=True)
class Owed:
    principal: Decimal
    """The bill's amount still unpaid."""
    penalty: Penalty
    """The penalty's breakdown: through ``as_of`` while unpaid, through the settlement day after."""
    penalty_due: Decimal
    """The penalty still to pay. When ``penalty_unknown``: only a penalty already charged and
    unpaid (a ledger fact), usually 0, and the page must say the rest could not be worked out."""
    penalty_unknown: PenaltyUnknown | None = None
    """Set when the penalty cannot be worked out (``penalty`` is then empty, not a zero)."""

    @property
    def total(self) -> Decimal:
        """What paying the bill today costs; without a penalty that could not be worked out."""
        return self.principal + self.penalty_due


NOTHING_OWED = Owed(principal=ZERO, penalty=NO_PENALTY, penalty_due=ZERO)


def bill_owed(
    *,
    bill: Bill,
    as_of: date,
    payments: Sequence[tuple[date, Decimal]] | None = None,
    rules: Sequence[Rule] | None = None,
) -> Owed:
    """What paying ``bill`` in full on ``as_of`` costs. ``payments`` from ``bill_payments``
    (queried when omitted); ``rules`` from ``penalty_rules`` (queried when omitted)."""
    if bill.status == BillStatus.CANCELLED:
        return NOTHING_OWED
    if payments is None:
        payments = bill_payments(bill_ids=[bill.pk]).get(bill.pk, [])
    principal = bill.amount - bill.principal_paid
    until = bill.settled_on if bill.settled_on is not None and principal <= 0 else as_of
    penalty = penalty_for(
        amount=bill.amount,
        due_date=bill.due_date,
        as_of=until,
        customer_class=bill.account.customer_class,
        payments=payments,
        start_date=bill.penalty_start_date,
        rules=rules,
    )
    charged_unpaid = bill.penalty_charged - bill.penalty_paid
    if isinstance(penalty, PenaltyUnknown):
        penalty_fault_report(bill=bill, unknown=penalty)
        return Owed(
            principal=max(principal, ZERO),
            penalty=NO_PENALTY,
            penalty_due=max(charged_unpaid, ZERO),
            penalty_unknown=penalty,
        )
    # Settled: the penalty was charged on the settlement day and is a ledger fact now.
    penalty_due = charged_unpaid if principal <= 0 else penalty.total - bill.penalty_paid
    return Owed(principal=max(principal, ZERO), penalty=penalty, penalty_due=max(penalty_due, ZERO))


@dataclass(frozen=True)
class Allocation:
    """How a payment of ``amount`` on a bill on ``on_date`` is split (all Decimal yuan)."""

    principal: Decimal
    penalty_charge: Decimal
    """Penalty to charge now: the amount is settled by this payment, so the penalty stops."""
    penalty: Decimal
    """Paid towards the penalty."""
    credit: Decimal
    """Left over: credit on the account."""
    penalty_unknown: PenaltyUnknown | None = None
    """This payment settles the amount but the penalty could not be worked out: none is
    charged (said in the payment entry's memo, and logged for staff)."""

    def postings(self, bill: Bill, *, amount: Decimal) -> tuple[list[Posting], list[Posting]]:
        """(penalty charge lines, payment lines) for ``ledger_post``; the first may be empty."""
        account_id = bill.account_id
        charge = []
        if self.penalty_charge:
            charge = [
                Posting(account_id, Book.PENALTY_RECEIVABLE, self.penalty_charge, bill.pk),
                Posting(account_id, Book.PENALTY_REVENUE, -self.penalty_charge, bill.pk),
            ]
        payment = [
            Posting(account_id, Book.CASH, amount, bill.pk),
            Posting(account_id, Book.RECEIVABLE, -self.principal, bill.pk),
            Posting(account_id, Book.PENALTY_RECEIVABLE, -self.penalty, bill.pk),
            Posting(account_id, Book.CUSTOMER_CREDIT, -self.credit, bill.pk),
        ]
        return charge, [line for line in payment if line.amount]


def payment_allocation(
    *,
    bill: Bill,
    amount: Decimal,
    on_date: date,
    payments: Sequence[tuple[date, Decimal]] | None = None,
    rules: Sequence[Rule] | None = None,
) -> Allocation:
    """Split a payment of ``amount`` made on ``on_date`` towards ``bill`` (in its current state:
    lock the bill row first). A cancelled bill takes nothing: it all becomes credit."""
    if bill.status == BillStatus.CANCELLED:
        return Allocation(ZERO, ZERO, ZERO, amount)
    principal_due = max(bill.amount - bill.principal_paid, ZERO)
    principal = min(amount, principal_due)
    rest = amount - principal
    penalty_charge = ZERO
    penalty_due = bill.penalty_charged - bill.penalty_paid
    unknown = None
    if principal_due > 0 and principal == principal_due:
        # This payment settles the amount: the penalty stops today and is charged.
        if payments is None:
            payments = bill_payments(bill_ids=[bill.pk]).get(bill.pk, [])
        penalty = penalty_for(
            amount=bill.amount,
            due_date=bill.due_date,
            as_of=on_date,
            customer_class=bill.account.customer_class,
            payments=[*payments, (on_date, principal)],
            start_date=bill.penalty_start_date,
            rules=rules,
        )
        if isinstance(penalty, PenaltyUnknown):
            # The customer paid what they were asked for, the amount: the payment stands, and
            # staff decide about the penalty (docs/bills.md). Anything beyond the amount and a
            # penalty already charged is credit, never a guessed penalty.
            unknown = penalty
            penalty_fault_report(bill=bill, unknown=penalty)
        else:
            penalty_charge = max(penalty.total - bill.penalty_charged, ZERO)
            penalty_due += penalty_charge
    penalty_paid = min(rest, max(penalty_due, ZERO))
    return Allocation(principal, penalty_charge, penalty_paid, rest - penalty_paid, unknown)


def bill_issue_postings(*, bill: Bill) -> list[Posting]:
    """The lines that put a newly issued bill on the ledger."""
    if not bill.amount:
        return []
    return [
        Posting(bill.account_id, Book.RECEIVABLE, bill.amount, bill.pk),
        Posting(bill.account_id, Book.ENERGY_REVENUE, -bill.amount, bill.pk),
    ]


def bill_payment_post(
    *,
    bill: Bill,
    amount: Decimal,
    on_date: date,
    channel: str,
    reference: str,
    rules: Sequence[Rule] | None = None,
    posted_by: User | None = None,
    memo: str = "",
    refresh: bool = True,
) -> LedgerEntry:
    """Post a payment of ``amount`` towards ``bill`` on business date ``on_date``: the penalty
    charge if this payment settles the amount, then the payment itself; refresh the bill.

    The caller holds the transaction, has locked the bill row (``select_for_update``) and writes
    its audit record last. Returns the payment's ledger entry. A bulk caller passes
    ``refresh=False`` and calls ``bills_refresh`` once for all its bills before it commits: the
    ``bill`` object then keeps running totals in memory, for the next payment towards it, and
    its status waits for the refresh.
    """
    allocation = payment_allocation(bill=bill, amount=amount, on_date=on_date, rules=rules)
    if allocation.penalty_unknown is not None:
        note = f"penalty not charged: {allocation.penalty_unknown.detail}"
        memo = f"{memo}; {note}" if memo else note
        memo = memo[: LedgerEntry._meta.get_field("memo").max_length]
    charge, payment = allocation.postings(bill, amount=amount)
    if charge:
        ledger_post(
            kind=EntryKind.PENALTY_CHARGED,
            effective_date=on_date,
            lines=charge,
            reference=reference,
            posted_by=posted_by,
        )
    entry = ledger_post(
        kind=EntryKind.PAYMENT,
        effective_date=on_date,
        lines=payment,
        channel=channel,
        reference=reference,
        memo=memo,
        posted_by=posted_by,
    )
    if refresh:
        bills_refresh(bill_ids=[bill.pk])
        bill.refresh_from_db()
    else:
        _running_totals(bill, allocation)
    return entry


def _running_totals(bill: Bill, allocation: Allocation) -> None:
    """What ``bill`` has been paid so far in this batch, for allocating the next payment towards
    it before ``bills_refresh`` runs. Only the running totals: the bill's status and settlement
    date come from the ledger alone (``bills_refresh``), never from here."""
    if bill.status == BillStatus.CANCELLED:
        return
    bill.principal_paid += allocation.principal
    bill.penalty_charged += allocation.penalty_charge
    bill.penalty_paid += allocation.penalty
