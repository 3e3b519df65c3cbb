"""The billing export: payments, refunds and reconnection requests handed to the billing system,
each exactly once, through a cursor (docs/integration.md, "Payments and reconnection requests
out").

``BillingExport`` rows are written in the transaction that makes the payment, refund or request,
with that transaction's audit sequence number (``seq``). The audit chain hands sequence numbers
out under a lock held until commit, so rows become visible in ``seq`` order: once a reader has
seen seq n, no row with a smaller seq can appear later. A consumer's cursor is therefore a
single number, the last seq it has, and a batch always ends at a transaction boundary (every row
sharing the last seq is in it), so the messages of one transaction, say a payment and the
reconnection it triggers, always travel together.

Consumers: an integration client (``client:<id>``, through the API) or a name given to
``manage.py export_payments``. A consumer confirms what it has by asking for what comes after it;
the stored cursor only moves forward.
"""

from django.db.models import Max

from portal.core import clock

from .models import BillingExport, ExportCursor

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def export_message(row: BillingExport) -> dict:
    return {"seq": row.seq, "kind": row.kind, "data": row.payload}


def export_batch(*, after: int, limit: int) -> tuple[list[dict], int]:
    """(messages after seq ``after``, the cursor to ask with next). At most ``limit`` messages,
    except that the last transaction's messages are never split; the cursor is the last seq
    delivered, or ``after`` when there is nothing new. The same ``after`` gives the same
    messages (and more, if more have been committed since and the limit allows)."""
    rows = list(BillingExport.objects.filter(seq__gt=after).order_by("seq", "id")[:limit])
    if not rows:
        return [], after
    if len(rows) == limit:
        last = rows[-1]
        rows += BillingExport.objects.filter(seq=last.seq, id__gt=last.id).order_by("id")
    return [export_message(row) for row in rows], rows[-1].seq


def export_has_more(*, after: int) -> bool:
    return BillingExport.objects.filter(seq__gt=after).exists()


def export_last_seq() -> int:
    """The newest message's seq (0 when there is none): no consumer can have more than this."""
    return BillingExport.objects.aggregate(last=Max("seq"))["last"] or 0


def export_cursor(*, consumer: str) -> int:
    """The last seq ``consumer`` has confirmed (0: nothing yet)."""
    return ExportCursor.objects.filter(consumer=consumer).values_list("seq", flat=True).first() or 0


def export_cursor_advance(*, consumer: str, seq: int) -> int:
    """Record that ``consumer`` has everything up to ``seq``. The cursor never moves back: a
    late or repeated confirmation of an older seq changes nothing. Returns the stored cursor."""
    ExportCursor.objects.get_or_create(consumer=consumer)
    # One conditional UPDATE: two confirmations at once keep the larger, without a lock.
    ExportCursor.objects.filter(consumer=consumer, seq__lt=seq).update(
        seq=seq, updated_at=clock.now()
    )
    return export_cursor(consumer=consumer)
