"""Telling people about their bills and payments, through ``portal.notifications``.

- **Bill issued** (``bills_issued_notify``): the bill import calls it for each batch of new
  bills. Only bills issued in the last ``ISSUED_NOTICE_DAYS`` days are announced, so loading
  two years of history (the demo, a migration) mails nobody about old bills. One task sends a
  batch's notices.
- **Due soon and overdue** (``bill_reminders_send``, run daily by ``manage.py
  send_bill_reminders``): an unpaid bill due within ``DUE_SOON_DAYS`` days is announced once;
  an overdue bill once a week while it stays unpaid (days 1, 8, 15 … after the due date: the key
  holds the week's number counted from the due date, so a missed run catches up the same week
  and never sends two for one week), with the penalty so far and the total to pay today.
- **Payment received** and **refund** (``payment_received_notify``, ``refund_notify``):
  fulfilment and refunds call them after their transaction commits, with the receipt's (the
  refund note's) PDF attached (payments/receipts.py).

Who hears about a bill (``account_recipients``): everyone with an active personal binding on
its account; for an organisation's account, the organisation's administrators and the members
who hold the *pay* scope on it: the people who act on a bill. Members who may only view are not
sent bill notices (an organisation of many viewers would otherwise mail each of them for every
account); they see the bills on the portal. Each person's preferences then decide the channels.

Queries: a reminder run reads the bills in chunks of ``CHUNK``, and per chunk a fixed handful
(the bills, their payments and the penalty rules for what is owed today, the bindings and
memberships of their accounts, the preferences, the notifications), never one per bill.

One bad bill never stops the run (``portal.core.jobs``): each chunk is reminded in one savepoint;
if that fails, the chunk is reminded again bill by bill, each in its own savepoint, so only the
bill that fails (a due date no penalty rule covers, say) is skipped, kept under Job problems
(job ``send_bill_reminders``) and counted, and the others of its chunk are reminded.
"""

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse

from portal.core import clock
from portal.core.jobs import JobRun
from portal.models import Binding, MemberRole, MemberScope, Membership, NotificationKind, User
from portal.notifications import Notice, notifications_requeue, notify, notify_many

from .models import Bill, PaymentAttempt, Receipt, ReceiptKind, Refund
from .receipt_pdf import receipt_pdf
from .receipts import mask_account
from .selectors import UNPAID, overdue_condition, owed_today

DUE_SOON_DAYS = 3
ISSUED_NOTICE_DAYS = 7
OVERDUE_EVERY_DAYS = 7
CHUNK = 500
JOB = "send_bill_reminders"

logger = logging.getLogger("powerhall.payments")


def _url(name: str, **kwargs) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(name, kwargs=kwargs)


def _local(moment) -> str:
    return clock.localtime(moment).strftime("%Y-%m-%d %H:%M")


# --- Who hears about an account's bills -----------------------------------------------------------
@dataclass(frozen=True)
class Recipient:
    user: User
    label: str
    """What the person calls the account: their binding's label, or the organisation's name."""


def account_recipients(*, account_ids: Iterable[int]) -> dict[int, list[Recipient]]:
    """account id → the people to tell about its bills (see the module's docstring), each
    once. Three queries at most: the bindings, the administrators, the members with pay."""
    account_ids = set(account_ids)
    if not account_ids:
        return {}
    found: dict[int, dict[int, Recipient]] = defaultdict(dict)
    bindings = list(
        Binding.objects.active()
        .filter(account_id__in=account_ids)
        .select_related("user", "organisation")
        .order_by("pk")
    )
    for binding in bindings:
        if binding.user_id and binding.user.is_active:
            found[binding.account_id].setdefault(
                binding.user_id, Recipient(binding.user, binding.label)
            )
    org_bindings = [binding for binding in bindings if binding.organisation_id]
    if org_bindings:
        admins = defaultdict(list)
        for membership in Membership.objects.filter(
            organisation_id__in={binding.organisation_id for binding in org_bindings},
            role=MemberRole.ADMIN,
            user__is_active=True,
        ).select_related("user"):
            admins[membership.organisation_id].append(membership.user)
        payers = defaultdict(list)
        for scope in MemberScope.objects.filter(
            binding__in=org_bindings, can_pay=True, membership__user__is_active=True
        ).select_related("membership__user"):
            payers[scope.binding_id].append(scope.membership.user)
        for binding in org_bindings:
            label = binding.label or binding.organisation.name
            for user in admins[binding.organisation_id] + payers[binding.pk]:
                found[binding.account_id].setdefault(user.pk, Recipient(user, label))
    return {account_id: list(people.values()) for account_id, people in found.items()}


def _bill_context(bill: Bill, recipient: Recipient) -> dict:
    return {
        "name": recipient.user.get_short_name(),
        "account": mask_account(bill.account.number),
        "label": recipient.label,
        "bill": {
            "number": bill.number,
            "month": bill.period_end.strftime("%Y-%m"),
            "period_start": bill.period_start,
            "period_end": bill.period_end,
            "issue_date": bill.issue_date,
            "due_date": bill.due_date,
            "kwh": bill.kwh,
            "amount": bill.amount,
            "url": _url("bills:detail", bill=bill.uuid),
        },
    }


def _bills_notify(kind: str, bills: list[Bill], *, key, extra=None, recipients=None) -> int:
    """Record ``kind`` for each bill and each of its account's recipients (``recipients``, if
    the caller has them already); one task sends them. ``key(bill)`` names the event,
    ``extra(bill)`` adds to the context. Returns how many notifications were recorded."""
    if recipients is None:
        recipients = account_recipients(account_ids=(bill.account_id for bill in bills))
    notices = [
        Notice(
            user=recipient.user,
            key=key(bill),
            context=_bill_context(bill, recipient) | (extra(bill) if extra else {}),  # nosec
        )
        for bill in bills
        for recipient in recipients.get(bill.account_id, [])
    ]
    return len(notify_many(kind=kind, notices=notices))


# --- A new bill -----------------------------------------------------------------------------------
def bills_issued_notify(*, bills: Iterable[tuple[int, int, date]], today: date) -> int:
    """Announce new bills, given as (bill id, account id, issue date), to the people bound to
    their accounts: only those issued in the last ``ISSUED_NOTICE_DAYS`` days. No query when
    there is none; otherwise the recipients, then (if anyone is bound) the bills and the
    notifications. Returns how many notifications were recorded."""
    since = today - timedelta(days=ISSUED_NOTICE_DAYS)
    recent = [(pk, account_id) for pk, account_id, issued in bills if issued >= since]
    if not recent:
        return 0
    recipients = account_recipients(account_ids=(account_id for _pk, account_id in recent))
    wanted = [pk for pk, account_id in recent if account_id in recipients]
    if not wanted:
        return 0
    loaded = list(Bill.objects.filter(pk__in=wanted).select_related("account").order_by("pk"))
    return _bills_notify(
        NotificationKind.BILL_ISSUED,
        loaded,
        key=lambda bill: str(bill.uuid),
        recipients=recipients,
    )


# --- Reminders ------------------------------------------------------------------------------------
@dataclass
class ReminderReport:
    day: date
    due_soon_bills: int = 0
    due_soon_sent: int = 0
    overdue_bills: int = 0
    overdue_sent: int = 0
    requeued: int = 0
    """Notifications recorded earlier whose task was lost, queued again."""
    run: JobRun = field(default_factory=lambda: JobRun(JOB))
    """The bills skipped on an error (kept under Job problems)."""


def _chunks(bills: QuerySet[Bill], size: int = CHUNK) -> Iterator[list[Bill]]:
    """The bills in pages of ``size`` by ascending id (a keyset: no OFFSET scan)."""
    last = 0
    while True:
        chunk = list(bills.filter(pk__gt=last).select_related("account").order_by("pk")[:size])
        if not chunk:
            return
        yield chunk
        last = chunk[-1].pk


def overdue_week(*, bill: Bill, today: date) -> int:
    """Which week of being overdue ``today`` is: 0 for the 7 days after the due date, then 1 …"""
    return ((today - bill.due_date).days - 1) // OVERDUE_EVERY_DAYS


def bill_reminders_send(*, today: date | None = None) -> ReminderReport:
    """Remind the people of every unpaid bill due within ``DUE_SOON_DAYS`` days (once per bill)
    and of every overdue bill (once per week overdue), with what is owed ``today``. Idempotent:
    a second run the same day records nothing. Also queues again notifications whose task was
    lost (``portal.notifications.notifications_requeue``)."""
    today = today or clock.today()
    report = ReminderReport(day=today)
    due_soon = Bill.objects.filter(
        status__in=UNPAID,
        due_date__gte=today,
        due_date__lte=today + timedelta(days=DUE_SOON_DAYS),
    )
    run = report.run

    def due_soon_notify(bills: list[Bill]) -> int:
        owed = owed_today(bills=bills, as_of=today)
        return _bills_notify(
            NotificationKind.BILL_DUE_SOON,
            bills,
            key=lambda bill: str(bill.uuid),
            extra=lambda bill: {"owed": owed[bill.pk].total},
        )

    def overdue_notify(bills: list[Bill]) -> int:
        owed = owed_today(bills=bills, as_of=today)
        return _bills_notify(
            NotificationKind.BILL_OVERDUE,
            bills,
            key=lambda bill: f"{bill.uuid}:week{overdue_week(bill=bill, today=today)}",
            extra=lambda bill: {
                "as_of": today,
                "days_overdue": (today - bill.due_date).days,
                "principal": owed[bill.pk].principal,
                "penalty": owed[bill.pk].penalty_due,
                "total": owed[bill.pk].total,
                # The penalty could not be worked out (docs/bills.md): the message says so
                # rather than print a penalty of 0.
                "penalty_unknown": owed[bill.pk].penalty_unknown is not None,
            },
        )

    with run.step("due_soon"):
        for chunk in _chunks(due_soon):
            report.due_soon_bills += len(chunk)
            report.due_soon_sent += _chunk_notify(run, chunk, due_soon_notify)
    with run.step("overdue"):
        for chunk in _chunks(Bill.objects.filter(overdue_condition(today=today))):
            report.overdue_bills += len(chunk)
            report.overdue_sent += _chunk_notify(run, chunk, overdue_notify)
    with run.step("requeue"), run.row("notifications_requeue"):
        report.requeued = notifications_requeue()
    return report


def _chunk_notify(run: JobRun, chunk: list[Bill], notify_bills: Callable[[list], int]) -> int:
    """``notify_bills(chunk)`` in one savepoint (a fixed handful of queries); if it fails, bill
    by bill in ``run``, so that only the bill that fails is skipped (and kept for a person).
    Returns how many notifications were recorded."""
    try:
        with transaction.atomic():
            return notify_bills(chunk)
    except Exception:
        # Not recorded here: the bill that fails is, below, with its own error.
        logger.info("reminders: a chunk of %s bills failed; reminding them one by one", len(chunk))
    recorded = 0
    for bill in chunk:
        with run.row(bill):
            recorded += notify_bills([bill])
    return recorded


# --- Payments and refunds -------------------------------------------------------------------------
def _paid_bills(bills: list[dict]) -> list[dict]:
    """The billing message's bills (``fulfilment.payment_message``) as a message lists them."""
    return [
        {
            "number": bill["bill_number"],
            "account": mask_account(bill["account_number"]),
            "amount": bill["amount"],
            "penalty": bill["penalty"],
        }
        for bill in bills
    ]


def _refunded_bills(bills: list[dict]) -> list[dict]:
    """The refund message's bills (``refunds.refund_message``) with what each owes again: the
    amount and penalty the refund reversed (credit the payment had left is not owed)."""
    return [
        {
            "number": bill["bill_number"],
            "account": mask_account(bill["account_number"]),
            "owed_again": Decimal(bill["amount"]) + Decimal(bill["penalty"]),
        }
        for bill in bills
    ]


def payment_received_notify(*, attempt: PaymentAttempt, message: dict) -> None:
    """Tell the person who paid that the money arrived, with the receipt. ``message``: the
    payment as the billing system receives it (``fulfilment.payment_message``). Called in the
    payment's transaction: the notice is recorded with it and sent after it commits."""
    notice = Notice(
        user=attempt.created_by,
        key=str(attempt.uuid),
        context={
            "name": attempt.created_by.get_short_name(),
            "reference": attempt.reference,
            "amount": attempt.amount,
            "paid_at": _local(attempt.paid_at),
            "organisation": attempt.organisation.name if attempt.organisation_id else "",
            "bills": _paid_bills(message["bills"]),
            "url": _url("pay:done", attempt=attempt.uuid),
            # Made when the e-mail is sent (receipt_attachment), after the receipt's render.
            "attachments": [{"type": "receipt", "payment": str(attempt.uuid)}],
        },
    )
    # notify_many rather than notify: the rows are not read back.
    notify_many(kind=NotificationKind.PAYMENT_RECEIVED, notices=[notice])


def refund_notify(*, refund: Refund, attempt: PaymentAttempt, message: dict) -> None:
    """Tell the person who paid that money went back to them. ``message``: the refund as the
    billing system receives it (``refunds.refund_message``)."""
    notify(
        user=attempt.created_by,
        kind=NotificationKind.REFUND,
        key=str(refund.uuid),
        context={
            "name": attempt.created_by.get_short_name(),
            "reference": attempt.reference,
            "amount": refund.amount,
            "payment_amount": attempt.amount,
            "refunded_at": _local(refund.completed_at),
            "bills": _refunded_bills(message["bills"]),
            "url": _url("pay:done", attempt=attempt.uuid),
        },
        attachments=[{"type": "receipt", "payment": str(attempt.uuid), "refund": str(refund.uuid)}],
    )


def receipt_attachment(*, payment: str, refund: str | None = None):
    """The receipt of a payment (or the note of one of its refunds) as an e-mail attachment:
    (filename, PDF bytes, "application/pdf"), or None when there is no receipt to attach."""
    receipts = Receipt.objects.filter(attempt__uuid=payment)
    if refund:
        receipt = receipts.filter(refund__uuid=refund).first()
    else:
        receipt = receipts.filter(kind=ReceiptKind.PAYMENT).first()
    if receipt is None:
        return None
    filename = re.sub(r"[^0-9A-Za-z_-]+", "-", receipt.number) + ".pdf"
    return filename, receipt_pdf(receipt), "application/pdf"
