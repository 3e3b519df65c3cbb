"""Receipts (电费缴费凭证) and refund notes: a document a customer keeps and shows to others.

Issued in the transaction that records the money, rendered after it commits, never rendered
again:

1. ``receipt_issue`` (from ``fulfilment._fulfil``) and ``refund_note_issue`` (from
   ``refunds._succeed``) take the next number of the year, freeze everything the document prints
   in ``Receipt.snapshot`` (JSON), make the unguessable token of its verification link, and
   schedule the rendering for after the commit. A payment that rolls back takes its number with
   it, so numbers have no gaps and are never reused.
2. The ``receipt_render`` task (payments/tasks.py) renders the PDF from the snapshot alone
   with WeasyPrint (payments/receipt_pdf.py) and stores it (default storage) with its SHA-256.
   A receipt already rendered is left alone, so a repeated task, or a download racing the task,
   changes nothing.
3. ``receipt_pdf`` gives the stored bytes; if the task has not run yet it renders them then (the
   same function as the task), so nobody waits on a page for a render and a download still works.

Numbers: ``YYYY-NNNNNNNN``, one series per year of the Asia/Shanghai date the money moved
(``DocumentSequence`` row ``receipt-YYYY``). Refund notes take their number from the same series:
one register of every document issued, in order, with no gaps. The kind is printed on each
document and shown by the verification page.

A refund never changes the payment's receipt (its PDF and hash stay as they were): it produces a
separate refund note that names the receipt it refers to. The verification page of the receipt
lists the refund notes issued against it, so nobody can show a refunded payment's receipt as
proof of a payment that was given back.

Who may download a receipt: the person who paid; members of the paying organisation who may view
every account the payment covers; staff with ``payments.view_paymentattempt`` and two factors.
Anyone else gets 404. Anyone holding the link (the QR code) sees the verification page, which
shows only number, date, amount and masked account numbers; lookups are limited per IP.

The receipt is not a VAT invoice (增值税发票) and says so; invoices are requested separately.
"""

import logging
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.db import connections, router
from django.http import Http404
from django.urls import reverse
from django.utils import translation

from portal.core import clock, money, ratelimit
from portal.core.background import enqueue_after_commit
from portal.core.errors import RateLimited
from portal.mfa import user_has_mfa
from portal.models import Scope, User
from portal.selectors import membership_list_for, org_bindings_for

from .models import (
    AttemptBill,
    Bill,
    DocumentSequence,
    PaymentAttempt,
    Receipt,
    ReceiptKind,
    Refund,
)
from .numerals import rmb_capitals
from .receipt_pdf import DOCUMENT_LANGUAGE
from .tasks import receipt_render

logger = logging.getLogger("powerhall.payments")

SNAPSHOT_VERSION = 1
STAFF_PERMISSION = "payments.view_paymentattempt"
# Verification lookups per IP (someone scanning a QR code needs one; 30 in 10 minutes leaves room
# for a clerk checking a pile of receipts, and none for guessing tokens).
VERIFY_LIMIT_PER_IP = 30
VERIFY_WINDOW_SECONDS = 600


# --- Issuing --------------------------------------------------------------------------------------
def receipt_number_next(*, year: int) -> str:
    """The next number of ``year``'s series, ``2026-00000123``. Call it inside the transaction
    that issues the document: the series row stays locked until that transaction ends, so two
    payments never get the same number and a rollback gives the number back.

    The first document of a year creates the row. On PostgreSQL two transactions may both try;
    ``get_or_create`` makes its insert in a savepoint, and the loser's insert waits on the unique
    index until the winner commits, then fails with IntegrityError, after which get_or_create
    reads (and here locks) the winner's row. SQLite lets one writer in at a time anyway.

    Holding the row to the commit makes documents of a year take turns; it costs nothing more,
    since the audit chain head, locked just after it (the audit record is the last write),
    already makes every payment and refund take turns. Lock order: attempt, bills, this row,
    audit head."""
    series = f"receipt-{year}"
    # The usual case in one statement: the UPDATE takes the row lock (waiting for a payment
    # that holds it, then counting on from what it committed) and says the number.
    table = DocumentSequence._meta.db_table
    connection = connections[router.db_for_write(DocumentSequence)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {connection.ops.quote_name(table)} SET last = last + 1 "  # noqa: S608 - our own table name  # nosec
            "WHERE series = %s RETURNING last",
            [series],
        )
        row = cursor.fetchone()
    if row is not None:
        return f"{year}-{row[0]:08d}"
    sequence, _created = DocumentSequence.objects.select_for_update().get_or_create(series=series)
    sequence.last += 1
    sequence.save(update_fields=["last"])
    return f"{year}-{sequence.last:08d}"


def _shanghai(moment: datetime) -> str:
    return clock.localtime(moment).isoformat(timespec="seconds")


def _payer(attempt: PaymentAttempt) -> dict:
    """Who paid, as printed: the organisation (name and unified social credit code) for a
    payment made on its behalf, else the person's name."""
    if attempt.organisation_id:
        organisation = attempt.organisation
        return {"name": organisation.name, "uscc": organisation.uscc}
    return {"name": attempt.created_by.get_full_name(), "uscc": ""}


def _bill_order(bill: Bill):
    """Bills as a document lists them: by account number, then period."""
    return (bill.account.number, bill.period_start)


def _accounts(rows) -> list[dict]:
    """``rows`` of (bill, line dict) grouped by account, accounts and bills in the given order."""
    accounts: dict[str, dict] = {}
    for bill, line in rows:
        account = accounts.setdefault(
            bill.account.number,
            {"number": bill.account.number, "holder": bill.account.holder_name, "bills": []},
        )
        account["bills"].append(
            {
                "number": bill.number,
                "period_start": bill.period_start.isoformat(),
                "period_end": bill.period_end.isoformat(),
                **line,
            }
        )
    return list(accounts.values())


def _common(attempt: PaymentAttempt, *, number: str, token: str, kind: str) -> dict:
    with translation.override(DOCUMENT_LANGUAGE):
        company = str(settings.COMPANY_NAME)
    return {
        "version": SNAPSHOT_VERSION,
        "kind": kind,
        "number": number,
        "company": company,
        "hotline": settings.SERVICE_HOTLINE,
        "payer": _payer(attempt),
        "reference": attempt.reference,
        "gateway": attempt.gateway,
        "method": attempt.payment_method,
        "provider_reference": attempt.intent_id or "",
        "currency": attempt.currency.upper(),
        "verify_url": settings.SITE_URL.rstrip("/")
        + reverse("receipts:verify", kwargs={"token": token}),
    }


def receipt_snapshot(
    *,
    attempt: PaymentAttempt,
    items: list[AttemptBill],
    bills: dict[int, Bill],
    number: str,
    token: str,
) -> dict:
    """Everything a payment's receipt prints (JSON): see ``receipt_issue``. Reads no rows
    beyond the payer (the attempt's user or organisation)."""
    rows = [
        (
            bills[item.bill_id],
            {
                "amount": money.plain(item.principal),
                "penalty": money.plain(item.penalty),
                "total": money.plain(item.total),
            },
        )
        for item in sorted(items, key=lambda i: _bill_order(bills[i.bill_id]))
    ]
    return {
        **_common(attempt, number=number, token=token, kind=ReceiptKind.PAYMENT),
        "paid_at": _shanghai(attempt.paid_at),
        "business_date": attempt.business_date.isoformat(),
        "amount": money.plain(attempt.amount),
        "amount_capitals": rmb_capitals(attempt.amount),
        "accounts": _accounts(rows),
    }


def refund_note_snapshot(
    *,
    refund: Refund,
    attempt: PaymentAttempt,
    reversals,
    number: str,
    token: str,
    receipt_number: str,
    on_date: date,
) -> dict:
    """Everything a refund note prints (JSON): see ``refund_note_issue``. ``receipt_number``:
    the payment's receipt ("" for a payment made before receipts were issued)."""
    rows = [
        (
            reversal.bill,
            {
                "amount": money.plain(reversal.principal),
                "penalty": money.plain(reversal.penalty),
                "credit": money.plain(reversal.credit),
                "total": money.plain(reversal.total),
            },
        )
        for reversal in sorted(reversals, key=lambda r: _bill_order(r.bill))
    ]
    return {
        **_common(attempt, number=number, token=token, kind=ReceiptKind.REFUND),
        "refunded_at": _shanghai(refund.completed_at),
        "business_date": on_date.isoformat(),
        "amount": money.plain(refund.amount),
        "amount_capitals": rmb_capitals(refund.amount),
        "provider_refund_reference": refund.provider_refund_id,
        "payment": {
            "receipt_number": receipt_number,
            "amount": money.plain(attempt.amount),
            "paid_at": _shanghai(attempt.paid_at) if attempt.paid_at else "",
        },
        "accounts": _accounts(rows),
    }


def _issue(*, attempt: PaymentAttempt, kind: str, on_date: date, snapshot, refund=None):
    """Number, token and snapshot (``snapshot(number, token)``) of a new document, in the
    caller's transaction; its rendering is scheduled for after the commit."""
    number = receipt_number_next(year=on_date.year)
    token = secrets.token_urlsafe(24)
    receipt = Receipt.objects.create(
        number=number,
        kind=kind,
        attempt=attempt,
        refund=refund,
        token=token,
        snapshot=snapshot(number, token),
        issued_at=clock.now(),
    )
    _render_after_commit(receipt)
    return receipt


def receipt_issue(
    *, attempt: PaymentAttempt, items: list[AttemptBill], bills: dict[int, Bill]
) -> Receipt:
    """The receipt of ``attempt``, a payment being recorded as succeeded (its ``paid_at`` set),
    in the caller's transaction: ``items`` are its bills' lines, ``bills`` the bill rows by id
    (with ``account``). Lock order: after the attempt and its bills, before the audit head.

    Snapshot: the payer, each account (number, holder) and bill settled (number, period,
    amount, penalty), payment method and provider reference, our reference, the time paid
    (Asia/Shanghai), the amount in figures and in capitals, the company, the verification URL."""
    return _issue(
        attempt=attempt,
        kind=ReceiptKind.PAYMENT,
        on_date=clock.business_date(attempt.paid_at),
        snapshot=lambda number, token: receipt_snapshot(
            attempt=attempt, items=items, bills=bills, number=number, token=token
        ),
    )


def refund_note_issue(*, refund: Refund, attempt: PaymentAttempt, reversals) -> Receipt:
    """The refund note of ``refund``, being recorded as succeeded (``completed_at`` set), in
    the caller's transaction. ``reversals``: what it takes back from each bill
    (``refunds.Reversal``, bills with ``account``). The payment's own receipt is not touched;
    the note names it, and prints per bill what went back from the amount, the penalty and the
    credit the payment had left on the account."""
    receipt_number = (
        attempt.receipts.filter(kind=ReceiptKind.PAYMENT).values_list("number", flat=True).first()
    )
    today = clock.today()
    return _issue(
        attempt=attempt,
        kind=ReceiptKind.REFUND,
        on_date=today,
        refund=refund,
        snapshot=lambda number, token: refund_note_snapshot(
            refund=refund,
            attempt=attempt,
            reversals=reversals,
            number=number,
            token=token,
            receipt_number=receipt_number or "",
            on_date=today,
        ),
    )


def _render_after_commit(receipt: Receipt) -> None:
    # With the database queue, the task's row is written in the payment's transaction; else
    # enqueued on commit, robustly: a failure to enqueue (or, with the in-process backend, to
    # render) is logged and must not fail the payment's caller: the download renders a receipt
    # the task did not.
    enqueue_after_commit(receipt_render, receipt_id=receipt.pk)


# --- Reading --------------------------------------------------------------------------------------
def _may_see(user: User, attempt: PaymentAttempt) -> bool:
    if not user.is_authenticated:
        return False
    if attempt.created_by_id == user.pk:
        return True
    if user.is_staff and user.has_perm(STAFF_PERMISSION) and user_has_mfa(user):
        return True
    if attempt.organisation_id is None:
        return False
    membership = (
        membership_list_for(user=user).filter(organisation_id=attempt.organisation_id).first()
    )
    if membership is None:
        return False
    visible = org_bindings_for(membership=membership, scope=Scope.VIEW).values("account_id")
    # Every bill of the payment must be one the member may see (bill_get_for's rule).
    return not attempt.items.exclude(bill__account_id__in=visible).exists()


def receipt_get_for(*, user: User, number: str) -> Receipt:
    """A receipt or refund note ``user`` may download, by number, or 404."""
    receipt = Receipt.objects.select_related("attempt").filter(number=number).first()
    if receipt is None or not _may_see(user, receipt.attempt):
        raise Http404
    return receipt


def mask_account(number: str) -> str:
    """An account number with its middle hidden: 3100000003 → 31****0003."""
    if len(number) > 6:
        return f"{number[:2]}****{number[-4:]}"
    return "****" + number[-2:]


@dataclass(frozen=True)
class Proof:
    """What the public verification page shows of a genuine document, and nothing more."""

    number: str
    kind: str
    day: str
    amount: str
    accounts: list[str]
    refunds: list[tuple[str, str]] = field(default_factory=list)
    """For a payment receipt: (number, amount) of each refund note issued against it."""

    @property
    def is_refund(self) -> bool:
        return self.kind == ReceiptKind.REFUND


def receipt_proof_for(*, token: str, ip: str) -> Proof | None:
    """The proof of the document whose verification link carries ``token``, or None if there is
    none. Raises ``RateLimited`` past VERIFY_LIMIT_PER_IP lookups per window from ``ip`` (every
    lookup counts, found or not)."""
    limit = ratelimit.Limit("receipt:verify:ip", ip, VERIFY_LIMIT_PER_IP, VERIFY_WINDOW_SECONDS)
    if not ratelimit.hit(limit):
        raise RateLimited
    receipt = Receipt.objects.filter(token=token).first() if token else None
    if receipt is None:
        return None
    snapshot = receipt.snapshot
    moment = snapshot.get("refunded_at") or snapshot["paid_at"]
    refunds = []
    if receipt.kind == ReceiptKind.PAYMENT:
        refunds = [
            (note.number, note.snapshot["amount"])
            for note in receipt.attempt.receipts.filter(kind=ReceiptKind.REFUND).order_by(
                "issued_at", "pk"
            )
        ]
    return Proof(
        number=receipt.number,
        kind=receipt.kind,
        day=moment[:10],
        amount=snapshot["amount"],
        accounts=[mask_account(account["number"]) for account in snapshot["accounts"]],
        refunds=refunds,
    )
