"""Posting to the ledger, and deriving bill state from it.

Every change to what a customer owes or has paid goes through ``ledger_post`` (one entry) or
``ledger_post_many`` (a bulk import's batch): each entry's lines must balance (sum to zero), be
whole fen and not zero, or nothing is written. The ledger tables refuse UPDATE and DELETE in the
database (migration 0003), so a mistake is corrected by a reversing entry.

Sign convention: a debit is positive, a credit negative. The postings (docs/bills.md):

============== ===================================================================
bill issued     receivable +amount / energy_revenue −amount
bill revised    receivable ±difference / energy_revenue ∓difference
penalty         penalty_receivable +p / penalty_revenue −p
payment         cash +paid / receivable −a / penalty_receivable −b / customer_credit −c
bill cancelled  energy_revenue +unpaid / receivable −unpaid (paid money → customer_credit)
============== ===================================================================

The caller holds the transaction and writes its audit record last in it.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Case, Max, Q, Sum, When
from django.utils import timezone

from .models import Bill, BillStatus, Book, EntryKind, LedgerEntry, LedgerLine

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
# Entries that move money in or out for a bill: they decide what is paid.
SETTLEMENT_KINDS = (EntryKind.PAYMENT, EntryKind.CREDIT_APPLIED, EntryKind.REFUND)
# Book.values builds a new list on every access; the bill import checks millions of lines.
_BOOKS = frozenset(Book.values)


class UnbalancedEntry(ValueError):
    """A programming error: an entry whose lines do not sum to zero, or are not whole fen."""


@dataclass(frozen=True)
class Posting:
    account_id: int
    book: str
    amount: Decimal
    bill_id: int | None = None


def _check(lines: Sequence[Posting]) -> None:
    if not lines:
        raise UnbalancedEntry("an entry needs lines")
    for line in lines:
        if not isinstance(line.amount, Decimal) or line.amount != line.amount.quantize(FEN):
            raise UnbalancedEntry(f"{line.book}: {line.amount!r} is not whole fen")
        if line.amount == 0:
            raise UnbalancedEntry(f"{line.book}: a line of zero")
        if line.book not in _BOOKS:
            raise UnbalancedEntry(f"unknown book {line.book}")
    total = sum((line.amount for line in lines), ZERO)
    if total != 0:
        raise UnbalancedEntry(f"lines sum to {total}, not 0")


def balanced(lines: Iterable[Posting]) -> list[Posting]:
    """Drop zero lines (an allocation where nothing went to credit, say) and check the rest."""
    kept = [line for line in lines if line.amount != 0]
    _check(kept)
    return kept


def ledger_post(
    *,
    kind: str,
    effective_date: date,
    lines: Sequence[Posting],
    channel: str = "",
    reference: str = "",
    memo: str = "",
    reverses: LedgerEntry | None = None,
    posted_by=None,
) -> LedgerEntry:
    """Post one balanced entry. Must run inside the caller's transaction."""
    _check(lines)
    entry = LedgerEntry.objects.create(
        kind=kind,
        effective_date=effective_date,
        posted_at=timezone.now(),
        channel=channel,
        reference=reference,
        memo=memo,
        reverses=reverses,
        posted_by=posted_by,
    )
    LedgerLine.objects.bulk_create(
        LedgerLine(
            entry=entry,
            account_id=line.account_id,
            bill_id=line.bill_id,
            book=line.book,
            amount=line.amount,
        )
        for line in lines
    )
    return entry


def ledger_post_many(entries: Sequence[tuple[LedgerEntry, Sequence[Posting]]]) -> None:
    """Post many entries in two bulk inserts (imports). Entries are unsaved ``LedgerEntry``
    objects; ``posted_at`` is filled in when missing. Checks every entry before writing any."""
    now = timezone.now()
    for entry, lines in entries:
        _check(lines)
        if entry.posted_at is None:
            entry.posted_at = now
    # Both SQLite (3.35+) and PostgreSQL return the new primary keys from a bulk insert.
    LedgerEntry.objects.bulk_create([entry for entry, _lines in entries])
    LedgerLine.objects.bulk_create(
        LedgerLine(
            entry_id=entry.pk,
            account_id=line.account_id,
            bill_id=line.bill_id,
            book=line.book,
            amount=line.amount,
        )
        for entry, lines in entries
        for line in lines
    )


def _sum(book: str, *, kinds: Sequence[str] | None = None, sign: int = 1):
    condition = Q(ledger_lines__book=book)
    if kinds is not None:
        condition &= Q(ledger_lines__entry__kind__in=kinds)
    return Sum(
        Case(When(condition, then="ledger_lines__amount")) * sign,
        default=ZERO,
    )


def _fen(total) -> Decimal:
    """A database sum of ledger amounts, as exact Decimal yuan."""
    return ZERO if total is None else Decimal(total).quantize(FEN)


def bill_status(
    *,
    cancelled: bool,
    settled: bool,
    paid: Decimal,
    penalty_charged: Decimal,
    penalty_paid: Decimal,
) -> str:
    """Cancelled once a cancellation is posted; paid when neither the amount nor a charged
    penalty is outstanding; partly paid when something was paid; otherwise open."""
    if cancelled:
        return BillStatus.CANCELLED
    if settled and penalty_charged - penalty_paid <= 0:
        return BillStatus.PAID
    if paid > 0 or penalty_paid > 0:
        return BillStatus.PARTLY_PAID
    return BillStatus.OPEN


def bills_refresh(bill_ids: Iterable[int]) -> None:
    """Recompute the stored, derived columns of these bills from their ledger lines.

    ``status``: cancelled once a cancellation is posted; paid when neither the amount nor a
    charged penalty is outstanding; partly paid when something was paid; otherwise open.
    """
    ids = list(bill_ids)
    if not ids:
        return
    rows = (
        Bill.objects.filter(pk__in=ids)
        .annotate(
            receivable=_sum(Book.RECEIVABLE),
            paid=_sum(Book.RECEIVABLE, kinds=SETTLEMENT_KINDS, sign=-1),
            penalty_in=_sum(Book.PENALTY_RECEIVABLE, kinds=[EntryKind.PENALTY_CHARGED]),
            penalty_out=_sum(Book.PENALTY_RECEIVABLE, kinds=SETTLEMENT_KINDS, sign=-1),
            cancelled=Sum(
                Case(When(ledger_lines__entry__kind=EntryKind.BILL_CANCELLED, then=1), default=0)
            ),
            last_settlement=Max(
                "ledger_lines__entry__effective_date",
                filter=Q(
                    ledger_lines__book=Book.RECEIVABLE,
                    ledger_lines__entry__kind__in=SETTLEMENT_KINDS,
                ),
            ),
        )
        .only("pk")
    )
    updated = []
    for row in rows:
        # SQLite sums decimals as binary floats (2.99 - 2.98 - 0.01 = 2.3e-16, "not settled"); the
        # lines are whole fen, so their true sum is too.
        receivable = _fen(row.receivable)
        paid = _fen(row.paid)
        penalty_charged = _fen(row.penalty_in)
        penalty_paid = _fen(row.penalty_out)
        settled = receivable <= 0
        updated.append(
            Bill(
                pk=row.pk,
                status=bill_status(
                    cancelled=bool(row.cancelled),
                    settled=settled,
                    paid=paid,
                    penalty_charged=penalty_charged,
                    penalty_paid=penalty_paid,
                ),
                principal_paid=paid,
                penalty_charged=penalty_charged,
                penalty_paid=penalty_paid,
                settled_on=(row.last_settlement or None) if settled and paid > 0 else None,
                updated_at=timezone.now(),
            )
        )
    Bill.objects.bulk_update(
        updated,
        ["status", "principal_paid", "penalty_charged", "penalty_paid", "settled_on", "updated_at"],
        batch_size=1000,
    )


def account_credit(account_id: int) -> Decimal:
    """Money held for the account (an overpayment): credit balance of customer_credit."""
    total = LedgerLine.objects.filter(account_id=account_id, book=Book.CUSTOMER_CREDIT).aggregate(
        total=Sum("amount")
    )["total"]
    return -_fen(total)
