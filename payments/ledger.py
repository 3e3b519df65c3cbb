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

from django.db import connection
from django.db.models import Sum

from portal.core import clock
from portal.core.money import FEN, ZERO
from portal.fragments import accounts_changed
from portal.models import User

from .models import Bill, BillStatus, Book, EntryKind, LedgerEntry, LedgerLine

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
    posted_by: User | None = None,
) -> LedgerEntry:
    """Post one balanced entry. Must run inside the caller's transaction."""
    _check(lines)
    entry = LedgerEntry.objects.create(
        kind=kind,
        effective_date=effective_date,
        posted_at=clock.now(),
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


def ledger_post_many(*, entries: Sequence[tuple[LedgerEntry, Sequence[Posting]]]) -> None:
    """Post many entries in two bulk inserts (imports). Entries are unsaved ``LedgerEntry``
    objects; ``posted_at`` is filled in when missing. Checks every entry before writing any."""
    now = clock.now()
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


def _ledger_totals(ids: list[int]) -> dict[int, tuple]:
    """Per bill: (receivable, paid, penalty charged, penalty paid, cancelled, last settlement
    date), summed from its ledger lines in one plain SQL statement. Written out rather than
    built with the ORM: this runs for every payment, and compiling the conditional sums cost
    more than the query (benchmarks/webhooks.py)."""
    settlement = ", ".join(f"'{kind}'" for kind in SETTLEMENT_KINDS)
    placeholders = ", ".join(["%s"] * len(ids))
    receivable, penalty = Book.RECEIVABLE.value, Book.PENALTY_RECEIVABLE.value
    sql = f"""
        SELECT l.bill_id,
            SUM(CASE WHEN l.book = '{receivable}' THEN l.amount ELSE 0 END),
            SUM(CASE WHEN l.book = '{receivable}' AND e.kind IN ({settlement})
                THEN -l.amount ELSE 0 END),
            SUM(CASE WHEN l.book = '{penalty}' AND e.kind = '{EntryKind.PENALTY_CHARGED.value}'
                THEN l.amount ELSE 0 END),
            SUM(CASE WHEN l.book = '{penalty}' AND e.kind IN ({settlement})
                THEN -l.amount ELSE 0 END),
            SUM(CASE WHEN e.kind = '{EntryKind.BILL_CANCELLED.value}' THEN 1 ELSE 0 END),
            MAX(CASE WHEN l.book = '{receivable}' AND e.kind IN ({settlement})
                THEN e.effective_date END)
        FROM {LedgerLine._meta.db_table} l
        JOIN {LedgerEntry._meta.db_table} e ON e.id = l.entry_id
        WHERE l.bill_id IN ({placeholders})
        GROUP BY l.bill_id
    """  # noqa: S608 (only constants of ours are formatted in; the ids are parameters)  # nosec
    with connection.cursor() as cursor:
        cursor.execute(sql, ids)
        return {row[0]: row[1:] for row in cursor.fetchall()}


_DERIVED = [
    "status",
    "principal_paid",
    "penalty_charged",
    "penalty_paid",
    "settled_on",
    "updated_at",
]


def bills_refresh(*, bill_ids: Iterable[int], versions: bool = True) -> None:
    """Recompute the stored, derived columns of these bills from their ledger lines, and raise
    their accounts' ``bills_version`` (the key of the cached bill tables and dashboard cards).

    ``status``: cancelled once a cancellation is posted; paid when neither the amount nor a
    charged penalty is outstanding; partly paid when something was paid; otherwise open.

    Every ledger entry about a bill (payment, penalty, refund, use of credit, revision,
    cancellation) is followed by this in the same transaction, which is why the versions are
    raised here, once for all the bills. The bill import raises them itself, once a batch
    (``versions=False``).
    """
    ids = list(bill_ids)
    if not ids:
        return
    if versions:
        for start in range(0, len(ids), 1000):
            accounts_changed(
                account_ids=Bill.objects.filter(pk__in=ids[start : start + 1000]).values(
                    "account_id"
                )
            )
    totals = {}
    for start in range(0, len(ids), 1000):
        totals.update(_ledger_totals(ids[start : start + 1000]))
    now = clock.now()
    updated = []
    for pk in ids:
        receivable, paid, penalty_in, penalty_out, cancelled, last_settlement = totals.get(
            pk, (None, None, None, None, 0, None)
        )
        # SQLite sums decimals as binary floats (2.99 - 2.98 - 0.01 = 2.3e-16, "not settled"); the
        # lines are whole fen, so their true sum is too.
        receivable, paid = _fen(receivable), _fen(paid)
        penalty_charged, penalty_paid = _fen(penalty_in), _fen(penalty_out)
        if isinstance(last_settlement, str):  # SQLite returns dates from MAX() as text
            last_settlement = date.fromisoformat(last_settlement)
        settled = receivable <= 0
        updated.append(
            Bill(
                pk=pk,
                status=bill_status(
                    cancelled=bool(cancelled),
                    settled=settled,
                    paid=paid,
                    penalty_charged=penalty_charged,
                    penalty_paid=penalty_paid,
                ),
                principal_paid=paid,
                penalty_charged=penalty_charged,
                penalty_paid=penalty_paid,
                settled_on=(last_settlement or None) if settled and paid > 0 else None,
                updated_at=now,
            )
        )
    if len(updated) == 1:  # one payment's bill: a plain UPDATE, no CASE per column
        bill = updated[0]
        Bill.objects.filter(pk=bill.pk).update(
            **{field: getattr(bill, field) for field in _DERIVED}
        )
        return
    Bill.objects.bulk_update(updated, _DERIVED, batch_size=1000)


def account_credit(*, account_id: int) -> Decimal:
    """Money held for the account (an overpayment): credit balance of customer_credit."""
    total = LedgerLine.objects.filter(account_id=account_id, book=Book.CUSTOMER_CREDIT).aggregate(
        total=Sum("amount")
    )["total"]
    return -_fen(total)
