"""Staff giving back all or part of an online payment, through the provider's Refund API.

A refund takes three steps, because the provider must never be called inside a database
transaction (a lock would be held across the network, and a rollback cannot take money back):

1. ``refund_request`` checks the request, then writes the refund as *pending* with its audit
   record and commits. Our record exists before the provider hears of it, with the idempotency
   key (``refund-<uuid>``) that every later try sends.
2. The provider is asked (``gateways.refund``), outside any transaction.
3. ``_settle`` records the answer. Refused: the refund is marked failed, and the ledger is not
   touched. Done: one ledger entry of kind ``refund`` reverses exactly the refunded amount,
   the bills are refreshed from the ledger, and the billing system's message and the audit
   record are written in the same transaction.

If the process dies between 1 and 3, or the provider's answer is lost, the refund stays pending.
``refund_retry`` (reconciliation) asks again with the stored key, so Stripe answers with the
refund it already made instead of making a second one.

What a refund reverses, in this order, each step going through the payment's bills from the
last to the first (by bill id, the order the payment posted them):

1. the credit the payment left on an account (money we held for the customer), as far as it is
   still there: credit already used on another bill is not taken back (``account_credit``);
2. the penalty the payment paid;
3. the bill's amount the payment paid.

So a partial refund first gives back money the customer did not owe, and a bill is reopened
only as far as the refund reaches it. A bill whose amount is reopened owes again what was
reversed; its status follows from the ledger (``bills_refresh``), so it is unpaid or partly paid
again and can be paid again like any other bill.

Locks, as everywhere money moves: the attempt, then its bills by ascending id, then the audit
chain head (the audit record is the transaction's last write but for the export row that needs
its ``seq``).
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from portal.core import clock, money
from portal.core.audit import audit_record
from portal.core.errors import InvalidInput
from portal.core.money import FEN, ZERO, MoneyError, yuan

from . import gateways
from .ledger import Posting, account_credit, bills_refresh, ledger_post
from .models import (
    AttemptBill,
    AttemptStatus,
    Bill,
    BillingExport,
    BillStatus,
    Book,
    EntryKind,
    ExportKind,
    LedgerLine,
    PaymentAttempt,
    PaymentChannel,
    Refund,
    RefundStatus,
)
from .receipts import refund_note_issue
from .reminders import refund_notify

logger = logging.getLogger("powerhall.payments")

REASON_MAX = Refund._meta.get_field("reason").max_length


# --- What a refund reverses ----------------------------------------------------------------------
@dataclass
class Reversal:
    """What a refund takes back from one bill of the payment (Decimal yuan)."""

    bill: Bill
    credit: Decimal = ZERO
    penalty: Decimal = ZERO
    principal: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.credit + self.penalty + self.principal

    def postings(self) -> list[Posting]:
        """Debit back what the payment credited, and give the cash out, on this bill."""
        account, bill = self.bill.account_id, self.bill.pk
        lines = [
            Posting(account, Book.CUSTOMER_CREDIT, self.credit, bill),
            Posting(account, Book.PENALTY_RECEIVABLE, self.penalty, bill),
            Posting(account, Book.RECEIVABLE, self.principal, bill),
            Posting(account, Book.CASH, -self.total, bill),
        ]
        return [line for line in lines if line.amount]


def _still_reversible(attempt: PaymentAttempt, items: list[AttemptBill]) -> dict:
    """(bill id, book) → what the payment put there that no refund has taken back yet, as a
    positive amount: the payment entries' lines minus the lines of the refunds already done."""
    entry_ids = [item.entry_id for item in items if item.entry_id]
    entry_ids += attempt.refunds.filter(
        status=RefundStatus.SUCCEEDED, entry__isnull=False
    ).values_list("entry_id", flat=True)
    left: dict[tuple[int, str], Decimal] = defaultdict(lambda: ZERO)
    rows = LedgerLine.objects.filter(
        entry_id__in=entry_ids,
        book__in=(Book.CUSTOMER_CREDIT, Book.PENALTY_RECEIVABLE, Book.RECEIVABLE),
    ).values_list("bill_id", "book", "amount")
    # Summed here, line by line, in Decimal: SQLite sums decimals as floats.
    for bill_id, book, amount in rows:
        left[(bill_id, book)] -= amount
    return left


def refund_reversals(
    *, attempt: PaymentAttempt, amount: Decimal, bills: dict[int, Bill] | None = None
) -> tuple[list[Reversal], Decimal]:
    """How ``amount`` of ``attempt`` would be reversed now: the bills' reversals (last bill
    first) and the part that nothing of the payment is left to cover (zero unless credit the
    payment left was used on other bills since). ``bills`` are the locked bill rows, when the
    caller is about to post."""
    items = list(attempt.items.order_by("bill_id"))
    if bills is None:
        bills = Bill.objects.in_bulk([item.bill_id for item in items])
    left = _still_reversible(attempt, items)
    reversals = [Reversal(bills[item.bill_id]) for item in reversed(items)]
    credit = {
        bill.account_id: account_credit(account_id=bill.account_id) for bill in bills.values()
    }
    remaining = amount

    def take(available: Decimal) -> Decimal:
        nonlocal remaining
        taken = min(remaining, max(available, ZERO))
        remaining -= taken
        return taken

    for reversal in reversals:
        bill = reversal.bill
        held = left[(bill.pk, Book.CUSTOMER_CREDIT)]
        if bill.status == BillStatus.CANCELLED:
            # A cancelled bill's payments were moved to the account's credit.
            held += left[(bill.pk, Book.PENALTY_RECEIVABLE)] + left[(bill.pk, Book.RECEIVABLE)]
        reversal.credit = take(min(held, credit[bill.account_id]))
        credit[bill.account_id] -= reversal.credit
    for book, part in ((Book.PENALTY_RECEIVABLE, "penalty"), (Book.RECEIVABLE, "principal")):
        for reversal in reversals:
            if reversal.bill.status != BillStatus.CANCELLED:
                setattr(reversal, part, take(left[(reversal.bill.pk, book)]))
    return [reversal for reversal in reversals if reversal.total], remaining


def _pending_total(attempt: PaymentAttempt) -> Decimal:
    total = attempt.refunds.filter(status=RefundStatus.PENDING).aggregate(total=Sum("amount"))
    return Decimal(total["total"] or 0).quantize(FEN)


def refund_available(*, attempt: PaymentAttempt) -> Decimal:
    """What may still be refunded: the payment less what was refunded or is being refunded."""
    return max(attempt.refundable - _pending_total(attempt), ZERO)


# --- Requesting a refund --------------------------------------------------------------------------
def _money(amount) -> Decimal:
    try:
        return yuan(amount)
    except (MoneyError, InvalidOperation, TypeError, ValueError):
        raise InvalidInput(_("Enter the amount in yuan, with at most two decimals.")) from None


def refund_request(
    *, attempt: PaymentAttempt, amount: Decimal, reason: str, by, client=None
) -> Refund:
    """Refund ``amount`` yuan of ``attempt``, a payment that succeeded, for ``reason``, as staff
    member ``by``. Returns the refund: succeeded, failed (the provider refused; nothing was
    posted) or pending (the provider's answer did not arrive; ``refund_retry`` asks again).

    Raises ``InvalidInput``, having changed nothing, for an amount that is not positive or more
    than is left to refund, an empty reason, or a payment that did not succeed. ``client``: a
    Stripe client (tests record what is sent)."""
    amount = _money(amount)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(_("Give the reason for the refund."))
    if len(reason) > REASON_MAX:
        raise InvalidInput(_("Keep the reason under %(count)d characters.") % {"count": REASON_MAX})
    if amount <= 0:
        raise InvalidInput(_("The amount to refund must be more than zero."))
    with transaction.atomic():
        # The lock makes two staff refunding the same payment at once take turns: the second
        # sees the first one's pending refund.
        locked = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
        if locked.status != AttemptStatus.SUCCEEDED:
            raise InvalidInput(_("Only a payment that succeeded can be refunded."))
        pending = _pending_total(locked)
        available = max(locked.refundable - pending, ZERO)
        if amount > available:
            raise InvalidInput(
                _("At most ¥%(amount)s of this payment can still be refunded.")
                % {"amount": f"{available:.2f}"}
            )
        _reversals, short = refund_reversals(attempt=locked, amount=pending + amount)
        if short > 0:
            raise InvalidInput(
                _(
                    "At most ¥%(amount)s of this payment can be refunded: the credit it left on "
                    "the account has since been used for other bills."
                )
                % {"amount": f"{max(amount - short, ZERO):.2f}"}
            )
        refund = Refund.objects.create(
            attempt=locked, amount=amount, reason=reason, requested_by=by
        )
        audit_record(
            action="refund.requested",
            actor=by,
            obj=refund,
            data={
                "payment": locked.reference,
                "amount": amount,
                "reason": reason,
                "idempotency_key": refund.idempotency_key,
            },
        )
    return _send_and_settle(refund, actor=by, client=client)


def refund_retry(*, refund: Refund, client=None) -> Refund:
    """Ask the provider again about a refund left pending (a crash, a lost answer), with the
    idempotency key stored with it: the provider answers with the refund it already made, if it
    made one, and makes it otherwise. A refund already settled is returned as it is."""
    refund.refresh_from_db()
    if refund.status != RefundStatus.PENDING:
        return refund
    return _send_and_settle(refund, actor=None, client=client)


def _send_and_settle(refund: Refund, *, actor, client) -> Refund:
    attempt = refund.attempt
    try:
        result = gateways.refund(
            attempt,
            amount=refund.amount,
            idempotency_key=refund.idempotency_key,
            client=client,
        )
    except Exception:
        # We cannot tell whether the provider made the refund: leave it pending; a retry with
        # the same key finds out without refunding twice.
        logger.exception("Refund %s: no answer from the provider; left pending", refund.uuid)
        return refund
    return _settle(refund, result, actor=actor)


# --- Recording the provider's answer -------------------------------------------------------------
def _settle(refund: Refund, result: gateways.RefundResult, *, actor) -> Refund:
    with transaction.atomic():
        attempt = PaymentAttempt.objects.select_for_update().get(pk=refund.attempt_id)
        refund = Refund.objects.select_related("requested_by").get(pk=refund.pk)
        if refund.status != RefundStatus.PENDING:
            return refund  # another try settled it while we waited for the lock
        if not result.succeeded:
            return _fail(refund, attempt, result, actor=actor)
        return _succeed(refund, attempt, result, actor=actor)


def _fail(refund, attempt, result, *, actor) -> Refund:
    refund.status = RefundStatus.FAILED
    refund.failure_message = (result.error or _("The provider refused the refund."))[:300]
    refund.completed_at = clock.now()
    refund.provider_refund_id = result.id
    refund.save(update_fields=["status", "failure_message", "completed_at", "provider_refund_id"])
    audit_record(
        action="refund.failed",
        actor=actor,
        obj=refund,
        data={
            "payment": attempt.reference,
            "amount": refund.amount,
            "error": refund.failure_message,
        },
    )
    return refund


def _succeed(refund, attempt, result, *, actor) -> Refund:
    bill_ids = sorted(attempt.items.values_list("bill_id", flat=True))
    bills = {
        bill.pk: bill
        for bill in Bill.objects.select_for_update(of=("self",))
        .select_related("account")
        .filter(pk__in=bill_ids)
        .order_by("pk")
    }
    reversals, short = refund_reversals(attempt=attempt, amount=refund.amount, bills=bills)
    if short > 0:
        # The money has left: it must be booked. Credit the payment left was used on other
        # bills between the request and now; the customer owes it back (a debit on their
        # credit), and a person must look.
        last = reversals[0] if reversals else Reversal(bills[bill_ids[-1]])
        last.credit += short
        if last not in reversals:
            reversals.insert(0, last)
        attempt.needs_review = (
            f"Refund {refund.uuid}: {short:.2f} more than the payment left to reverse, "
            "booked against the customer's credit"
        )[:300]
    entry = ledger_post(
        kind=EntryKind.REFUND,
        effective_date=clock.today(),
        lines=[line for reversal in reversals for line in reversal.postings()],
        channel=PaymentChannel.PORTAL,
        reference=attempt.reference,
        memo=f"refund {refund.uuid}",
        posted_by=refund.requested_by,
    )
    bills_refresh(bill_ids=[reversal.bill.pk for reversal in reversals])
    attempt.refunded += refund.amount
    attempt.save(update_fields=["refunded", "needs_review", "updated_at"])
    refund.status = RefundStatus.SUCCEEDED
    refund.provider_refund_id = result.id
    refund.completed_at = clock.now()
    refund.entry = entry
    refund.save(update_fields=["status", "provider_refund_id", "completed_at", "entry"])
    # A separate refund note: the payment's receipt is never changed (payments/receipts.py).
    note = refund_note_issue(refund=refund, attempt=attempt, reversals=reversals)
    message = refund_message(refund, attempt, reversals=reversals, entry=entry)
    event = audit_record(
        action="refund.succeeded",
        actor=actor,
        obj=refund,
        data={
            "payment": attempt.reference,
            "amount": refund.amount,
            "provider_refund_id": result.id,
            "requested_by": refund.requested_by_id,
            "entry": entry.uuid,
            "bills": message["bills"],
            "refund_note": note.number,
        },
    )
    # The billing system's message shares the audit record's seq (BillingExport's docstring).
    BillingExport.objects.create(seq=event.seq, kind=ExportKind.REFUND, payload=message)
    # robust: the refund is booked whatever happens to the message (logged if it fails).
    transaction.on_commit(
        lambda: refund_notify(refund=refund, attempt=attempt, message=message), robust=True
    )
    return refund


def refund_message(refund: Refund, attempt: PaymentAttempt, *, reversals, entry) -> dict:
    """The refund as the billing system receives it (docs/integration.md): what went back to the
    customer and what each bill got back, so the billing system reopens the same amounts."""
    return {
        "refund": str(refund.uuid),
        "payment_reference": attempt.reference,
        "attempt": str(attempt.uuid),
        "gateway": attempt.gateway,
        "provider_refund_id": refund.provider_refund_id,
        "refunded_at": refund.completed_at.isoformat(),
        "business_date": entry.effective_date.isoformat(),
        "amount": money.plain(refund.amount),
        "currency": attempt.currency.upper(),
        "reason": refund.reason,
        "bills": [
            {
                "bill_number": reversal.bill.number,
                "account_number": reversal.bill.account.number,
                "amount": money.plain(reversal.principal),
                "penalty": money.plain(reversal.penalty),
                "credit": money.plain(reversal.credit),
            }
            for reversal in reversed(reversals)
        ],
    }
