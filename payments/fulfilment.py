"""Acting on what a gateway says about a payment: the one path by which money is credited.

The webhook, the return page and reconciliation all call ``intent_apply`` with an
``IntentState``; it is idempotent (the attempt row is locked and a succeeded attempt is left
alone), so a repeated event, a webhook racing the return page, or a reconciliation run after a
crash credit a payment exactly once.

Locks are always taken in one order: the webhook event row (webhooks only), the attempt, its
bills by ascending id, the year's receipt counter, then the audit chain head (by
``audit_record``, the last write). A
payment's amount, currency and attempt UUID are compared with the attempt before anything is
credited; a mismatch is flagged for staff and never credited.
"""

import logging
from dataclasses import dataclass
from uuid import UUID

from django.db import transaction

from portal.core import clock, money
from portal.core.audit import audit_record
from portal.core.money import fen_to_yuan, yuan_to_fen
from portal.core.transitions import transition
from portal.models import AccountStatus

from . import gateways
from .bills import bill_payment_post, penalty_rules
from .gateways import IntentState
from .ledger import bills_refresh
from .models import (
    AttemptStatus,
    Bill,
    BillingExport,
    ExportKind,
    PaymentAttempt,
    PaymentChannel,
    ReconnectionRequest,
    WebhookStatus,
)
from .receipts import receipt_issue
from .reminders import payment_received_notify
from .selectors import overdue_condition
from .workflow import ATTEMPT

logger = logging.getLogger("powerhall.payments")


@dataclass(frozen=True)
class Outcome:
    status: str
    """A ``WebhookStatus`` value: what became of the event or check."""
    attempt: PaymentAttempt | None = None
    changed: bool = False
    """Whether this call changed anything (reconciliation reports those)."""


def intent_apply(*, state: IntentState, source: str) -> Outcome:
    """Bring our attempt in line with the gateway's ``state`` of its payment. ``source`` says
    who asked (webhook, return page, reconciliation) for the audit record."""
    try:
        attempt_uuid = UUID(state.attempt_uuid)
    except ValueError:
        return Outcome(WebhookStatus.UNMATCHED)
    # No savepoint inside a caller's transaction (the webhook's): a failure here must roll the
    # caller back anyway, and a savepoint is two more round trips per payment.
    with transaction.atomic(savepoint=False):
        # The payer comes along (the receipt prints them), read here rather than later while
        # the receipt number and the audit head are locked.
        attempt = (
            PaymentAttempt.objects.select_for_update(of=("self",))
            .select_related("created_by", "organisation")
            .filter(uuid=attempt_uuid)
            .first()
        )
        if attempt is None:
            # Not ours, or not committed yet: the caller keeps the event; reconciliation
            # finds it again.
            return Outcome(WebhookStatus.UNMATCHED)
        return _apply(attempt, state, source=source)


def _apply(attempt: PaymentAttempt, state: IntentState, *, source: str) -> Outcome:
    if state.status == gateways.SUCCEEDED:
        # Compared even when the attempt is already paid: money taken by another payment
        # that names this attempt must reach staff, not be dropped as a repeat.
        mismatch = _mismatch(attempt, state)
        if mismatch:
            return _flag(attempt, state, mismatch, source=source)
        if attempt.status == AttemptStatus.SUCCEEDED:
            return Outcome(WebhookStatus.PROCESSED, attempt)
        _fulfil(attempt, state, source=source)
        return Outcome(WebhookStatus.PROCESSED, attempt, changed=True)
    if attempt.status == AttemptStatus.SUCCEEDED:
        return Outcome(WebhookStatus.PROCESSED, attempt)
    if attempt.needs_review:
        return Outcome(WebhookStatus.FLAGGED, attempt)
    new_status = {
        gateways.PROCESSING: AttemptStatus.PROCESSING,
        gateways.REQUIRES_PAYMENT_METHOD: AttemptStatus.FAILED if state.error else None,
        gateways.CANCELED: AttemptStatus.CANCELLED,
    }.get(state.status)
    # A late or repeated event (a decline after the attempt was cancelled, the same decline
    # twice) changes nothing.
    if new_status is None or not ATTEMPT.allows(attempt.status, new_status):
        return Outcome(WebhookStatus.PROCESSED, attempt)
    transition(
        attempt,
        ATTEMPT,
        to=new_status,
        changes={"failure_message": state.error if new_status == AttemptStatus.FAILED else ""},
        data={"intent": state.id, "source": source, "error": state.error},
        locked=True,  # by intent_apply
    )
    return Outcome(WebhookStatus.PROCESSED, attempt, changed=True)


def _mismatch(attempt: PaymentAttempt, state: IntentState) -> str:
    """Why the gateway's payment is not the one this attempt asked for ("" when it is)."""
    problems = []
    if state.attempt_uuid != str(attempt.uuid):
        problems.append(f"attempt {state.attempt_uuid!r} != {attempt.uuid}")
    if attempt.intent_id and state.id != attempt.intent_id:
        problems.append(f"payment {state.id} != {attempt.intent_id}")
    if not attempt.intent_id and PaymentAttempt.objects.filter(intent_id=state.id).exists():
        problems.append(f"payment {state.id} is another attempt's")
    if state.currency != attempt.currency:
        problems.append(f"currency {state.currency} != {attempt.currency}")
    if state.amount != yuan_to_fen(attempt.amount):
        problems.append(f"amount {fen_to_yuan(state.amount)} != {attempt.amount}")
    return "; ".join(problems)


def _flag(attempt: PaymentAttempt, state: IntentState, reason: str, *, source: str) -> Outcome:
    """Money arrived that does not match: keep it out of the ledger and tell staff."""
    if attempt.needs_review:
        return Outcome(WebhookStatus.FLAGGED, attempt)
    attempt.needs_review = reason[:300]
    attempt.save(update_fields=["needs_review", "updated_at"])
    audit_record(
        action="payment.flagged",
        obj=attempt,
        data={"reason": reason, "intent": state.id, "source": source},
    )
    return Outcome(WebhookStatus.FLAGGED, attempt, changed=True)


def _fulfil(attempt: PaymentAttempt, state: IntentState, *, source: str) -> None:
    """Post the payment: each bill gets what the attempt froze for it, on the attempt's date
    (so the penalty stops where the customer was told it would), in one transaction with the
    audit record and the billing system's messages."""
    # The attempt's lines with their bills, the bills locked in ascending id (PostgreSQL locks
    # rows in the order the query returns them), in one query.
    items = list(
        attempt.items.select_for_update(of=("bill",))
        .select_related("bill__account")
        .order_by("bill_id")
    )
    bills = {item.bill_id: item.bill for item in items}
    accounts = {bill.account_id: bill.account for bill in bills.values()}
    today = clock.today()
    in_arrears = _accounts_in_arrears(accounts, today=today)
    rules = penalty_rules()
    for item in items:
        item.entry = bill_payment_post(
            bill=bills[item.bill_id],
            amount=item.total,
            on_date=attempt.business_date,
            channel=PaymentChannel.PORTAL,
            reference=attempt.reference,
            rules=rules,
            refresh=False,
        )
        item.save(update_fields=["entry"])
    bills_refresh(bill_ids=bills)
    cleared = in_arrears - _accounts_in_arrears(accounts, today=today)
    reconnections = [
        ReconnectionRequest.objects.create(account=accounts[account_id], attempt=attempt)
        for account_id in sorted(cleared)
    ]
    changes = {
        "paid_at": clock.now(),
        "payment_method": state.payment_method,
        "failure_message": "",
        # The payment may arrive before ``attempt_begin`` stored its id (a crash between the
        # provider's answer and our write): keep it, or the payment could not be refunded,
        # reconciled or exported under the provider's id.
        "intent_id": attempt.intent_id or state.id,
    }
    for name, value in changes.items():
        setattr(attempt, name, value)  # what the receipt and the message print
    message = payment_message(attempt, items=items, bills=bills)
    _payer_notify(attempt, message)
    # The receipt's number is taken here, in this transaction (so a rollback gives it back),
    # after the bills' locks and before the audit chain head; it renders after the commit.
    receipt = receipt_issue(attempt=attempt, items=items, bills=bills)
    event = transition(
        attempt,
        ATTEMPT,
        to=AttemptStatus.SUCCEEDED,
        changes=changes,
        data={
            "amount": attempt.amount,
            "reference": attempt.reference,
            "intent": state.id,
            "source": source,
            "bills": message["bills"],
            "reconnections": [request.account.number for request in reconnections],
            "receipt": receipt.number,
        },
        locked=True,  # by intent_apply, first of the lock order
    ).event
    BillingExport.objects.bulk_create(
        [
            BillingExport(seq=event.seq, kind=ExportKind.PAYMENT, payload=message),
            *(
                BillingExport(
                    seq=event.seq, kind=ExportKind.RECONNECTION, payload=reconnection_message(r)
                )
                for r in reconnections
            ),
        ]
    )


def _payer_notify(attempt: PaymentAttempt, message: dict) -> None:
    """Record the payer's "payment received" notice (with the receipt) in the payment's
    transaction: it is sent by a task that runs only after the commit (the database queue's row
    is written in this transaction, any other queue is handed the task on commit), so no
    message leaves before the money is on the books for good, and a rollback takes the notice
    with it. Exactly once: the payment is fulfilled once (its attempt is locked), and the
    notice's idempotency key is unique. Robust: a failure to record it rolls back its own
    savepoint, is logged, and never fails the payment. Before the receipt number and the audit
    chain head are locked, so the payments that wait for those do not wait for this too."""
    try:
        with transaction.atomic():
            payment_received_notify(attempt=attempt, message=message)
    except Exception:
        logger.exception("payment %s: the payer's notice was not recorded", attempt.reference)


def _accounts_in_arrears(accounts: dict, *, today) -> set[int]:
    """The suspended accounts among ``accounts`` that have a bill unpaid past its due date."""
    suspended = [
        pk for pk, account in accounts.items() if account.status == AccountStatus.SUSPENDED
    ]
    if not suspended:
        return set()
    return set(
        Bill.objects.filter(overdue_condition(today=today), account_id__in=suspended).values_list(
            "account_id", flat=True
        )
    )


def payment_message(attempt: PaymentAttempt, *, items, bills) -> dict:
    """The payment as the billing system receives it (docs/integration.md)."""
    return {
        "reference": attempt.reference,
        "attempt": str(attempt.uuid),
        "gateway": attempt.gateway,
        "provider_payment_id": attempt.intent_id or "",
        "paid_at": attempt.paid_at.isoformat(),
        "business_date": attempt.business_date.isoformat(),
        "amount": money.plain(attempt.amount),
        "currency": attempt.currency.upper(),
        "bills": [
            {
                "bill_number": bills[item.bill_id].number,
                "account_number": bills[item.bill_id].account.number,
                "amount": money.plain(item.principal),
                "penalty": money.plain(item.penalty),
            }
            for item in items
        ],
    }


def reconnection_message(request: ReconnectionRequest) -> dict:
    return {
        "reconnection": str(request.uuid),
        "account_number": request.account.number,
        "payment_reference": request.attempt.reference,
        "requested_at": request.requested_at.isoformat(),
    }
