"""Receiving the payment provider's events (Stripe's webhooks, or the local test gateway's).

1. No ``Stripe-Signature`` header, a bad signature, or a timestamp outside Stripe's 300 s
   tolerance: 400, nothing stored (not the provider, or a misconfiguration).
2. The verified body is parsed within bounds (``portal.core.safejson``) and read into an
   ``Event`` of exactly the fields we use (``event_parse``) before anything else. A body that is
   not JSON within the bounds, or an event we cannot read, is **rejected**: kept once under its
   event id (or ``sha256:<hex>`` of the body when the id itself is unusable) with the reason and
   the body as text, its deliveries counted, and answered 200. Stripe retries every non-2xx
   answer for up to three days, and a retry brings the same bytes: a 4xx would only bring it
   back (docs/payments.md, "The webhook").
3. A usable event is stored under its unique id and handled in one transaction: the row is
   inserted (``INSERT … ON CONFLICT DO NOTHING``), which locks it until the commit, so a second
   delivery of the same event at once waits on the unique index and then finds it handled. A
   repeat counts itself on the stored row (an ``UPDATE``, which takes the same row lock) and,
   when the event was handled already, changes nothing more and answers 200.
4. It is handled by type (``HANDLERS``, which receive the ``Event``) under that lock. An event
   about a payment we do not know (yet) is kept as "unmatched" and answered 200;
   reconciliation picks it up. A type we do not handle is kept as "ignored".
5. A failure inside a handler rolls its work back (the stored row with it), is recorded with
   its traceback on the event's row (stored again, or counted on the row an earlier delivery
   left), and answers 500 so the provider delivers the event again. A stored event handled
   again (``webhook_handle``, from reconciliation) is read again first: one that turns out
   unusable becomes "rejected" with its reason instead of raising.

One delivery of a new payment event is about 30 statements on PostgreSQL (docs/performance.md,
"Webhooks and receipts"); the audit chain head, which every payment locks until its commit, is
the one lock all deliveries share, so the work after it is kept short.
"""

import hashlib
import logging
import traceback
from dataclasses import dataclass

from django.db import IntegrityError, connections, router, transaction
from django.db.models import F
from django.db.models.constants import OnConflict
from django.utils.translation import gettext as _

from portal.core import clock
from portal.core.safejson import UnsafeJSON

from . import gateways
from .fulfilment import Outcome, intent_apply
from .gateways import IntentState, shapes
from .gateways.errors import ShapeUnusable, SignatureInvalid
from .models import WebhookEvent, WebhookStatus
from .models.online import REJECTION_REASON_LENGTH

logger = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300
DONE = (
    WebhookStatus.PROCESSED,
    WebhookStatus.IGNORED,
    WebhookStatus.UNMATCHED,
    WebhookStatus.FLAGGED,
    WebhookStatus.REJECTED,
)
EVENT_ID_LENGTH = 100
"""``WebhookEvent.event_id`` (Stripe's are about 30 characters)."""
TYPE_LENGTH = 100
BODY_KEPT = 64 * 1024
"""Bytes of a rejected body kept as text for a person (Stripe's events are a few KB)."""


@dataclass(frozen=True)
class Event:
    """An event of the provider, as far as we use it."""

    id: str
    type: str
    intent: IntentState | None = None
    """``data.object`` for the types we handle (``HANDLERS``, all about a PaymentIntent); None
    for the others, of which we read nothing more."""


def _payment_intent(event: Event) -> Outcome:
    return intent_apply(state=event.intent, source="webhook")


HANDLERS = {
    "payment_intent.succeeded": _payment_intent,
    "payment_intent.payment_failed": _payment_intent,
    "payment_intent.processing": _payment_intent,
    "payment_intent.canceled": _payment_intent,
}


def _usable_id(value) -> str:
    """``value`` if it can key a stored event, else the empty string."""
    if isinstance(value, str) and 0 < len(value) <= EVENT_ID_LENGTH and value.isprintable():
        return value
    return ""


def event_parse(value) -> Event:
    """The event in a webhook's JSON (any JSON value), or ``ShapeUnusable`` with the reason and
    what could be read (the id and type when usable, to key and label the stored event). Never
    raises anything else, whatever ``value`` is (tests/payments/test_webhook_shapes.py)."""
    if not isinstance(value, dict):
        raise ShapeUnusable(
            _("the event must be a JSON object, not %(kind)s") % {"kind": shapes.kind(value)}
        )
    event_id = _usable_id(value.get("id"))
    event_type = value.get("type")
    usable_type = event_type if isinstance(event_type, str) and event_type.isprintable() else ""
    usable_type = usable_type[:TYPE_LENGTH]
    try:
        if not event_id:
            shapes.text(shapes.field(value, "id"), "id", max_length=EVENT_ID_LENGTH)
            raise ShapeUnusable(_("id is not printable text"))
        event_type = shapes.text(shapes.field(value, "type"), "type", max_length=TYPE_LENGTH)
        if event_type not in HANDLERS:
            return Event(id=event_id, type=event_type)
        data = shapes.obj(shapes.field(value, "data"), "data")
        intent = IntentState.from_stripe(shapes.field(data, "object"), path="data.object")
        return Event(id=event_id, type=event_type, intent=intent)
    except ShapeUnusable as error:
        error.event_id, error.event_type = event_id, usable_type
        raise


def event_intent(row: WebhookEvent) -> IntentState | None:
    """The PaymentIntent a stored event is about, or None (a type we do not handle, or an
    event we cannot read). Never raises: for reconciliation, which looks at stored events."""
    try:
        return event_parse(row.payload).intent
    except ShapeUnusable:
        return None


@dataclass(frozen=True)
class Answer:
    status: int
    text: str


def webhook_receive(payload: bytes, signature: str | None, *, gateway: str) -> Answer:
    """Verify, read, store and handle one delivery. ``payload`` is the raw request body."""
    if not signature:
        return Answer(400, "missing signature")
    try:
        value = gateways.event_verify(payload, signature, tolerance=TOLERANCE_SECONDS)
        event = event_parse(value)
    except SignatureInvalid:
        return Answer(400, "bad signature")
    except (UnsafeJSON, ShapeUnusable) as error:
        return _reject(payload, error, gateway=gateway)
    try:
        with transaction.atomic():
            row = _store_locked(event, value, gateway=gateway)
            if row is None:
                # Delivered before: counted, and locked until the commit.
                row = _delivered_again_locked(event.id)
                if row.status in DONE:
                    return Answer(200, "already handled")
                # Stored by a delivery that failed: handled as stored, as reconciliation would.
                outcome = _handle_stored(row)
            else:
                outcome = _handle_locked(row, event)
    except Exception:
        logger.exception("webhook event %s failed", event.id)
        _failed(event, value, gateway=gateway, error=traceback.format_exc()[-10000:])
        return Answer(500, "failed; will be retried")
    return outcome


def _intent_id_hint(value: dict) -> str:
    """The PaymentIntent id of an event of a type we do not handle, when it has a usable one
    (kept in ``intent_id`` as before, so staff find it)."""
    obj = value.get("data")
    obj = obj.get("object") if isinstance(obj, dict) else None
    if isinstance(obj, dict) and obj.get("object") == "payment_intent":
        intent_id = obj.get("id")
        if isinstance(intent_id, str) and len(intent_id) <= gateways.ID_LENGTH:
            return intent_id
    return ""


def _new_row(event: Event, value: dict, *, gateway: str, **fields) -> WebhookEvent:
    intent_id = event.intent.id if event.intent else _intent_id_hint(value)
    return WebhookEvent(
        event_id=event.id,
        type=event.type,
        gateway=gateway,
        intent_id=intent_id,
        payload=value,
        **fields,
    )


def _store_locked(event: Event, value: dict, *, gateway: str) -> WebhookEvent | None:
    """The event's new row, inserted in the caller's transaction (and so locked by it until the
    commit), or None when a row with its id is stored already. One statement: the unique index
    on ``event_id`` decides, and a concurrent insert of the same id waits for the first one's
    commit (then None) or rollback (then this one stores it)."""
    row = _new_row(event, value, gateway=gateway)
    using = router.db_for_write(WebhookEvent)
    meta = WebhookEvent._meta
    # QuerySet._insert is what bulk_create and save() use: the public bulk_create(
    # ignore_conflicts=True) does not say whether the row went in.
    inserted = WebhookEvent.objects.using(using)._insert(
        [row],
        fields=[field for field in meta.local_concrete_fields if not field.primary_key],
        returning_fields=[meta.pk],
        on_conflict=OnConflict.IGNORE,
    )
    if not inserted:
        return None
    row.pk = inserted[0][0]
    row._state.adding, row._state.db = False, using
    return row


def _delivered_again_locked(event_id: str) -> WebhookEvent:
    """Count one more delivery on the stored row and return it, locked until the commit: the
    ``UPDATE`` takes the row lock and, when another delivery holds it, waits for it and reads
    the row as that one committed it."""
    table = WebhookEvent._meta.db_table
    connection = connections[router.db_for_write(WebhookEvent)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {connection.ops.quote_name(table)} SET deliveries = deliveries + 1 "  # noqa: S608 - our own table name  # nosec
            "WHERE event_id = %s RETURNING id, status",
            [event_id],
        )
        pk, status = cursor.fetchone()
    if status in DONE:
        return WebhookEvent(pk=pk, event_id=event_id, status=status)
    return WebhookEvent.objects.get(pk=pk)


def _delivered_again(event_id: str) -> None:
    WebhookEvent.objects.filter(event_id=event_id).update(deliveries=F("deliveries") + 1)


def _failed(event: Event, value: dict, *, gateway: str, error: str) -> None:
    """Record a delivery whose handling failed (and was rolled back with the row it stored):
    stored again as failed, or, when an earlier delivery left the row, counted on it and marked
    failed unless another delivery has handled it meanwhile."""
    try:
        with transaction.atomic():
            _new_row(event, value, gateway=gateway, status=WebhookStatus.FAILED, error=error).save(
                force_insert=True
            )
    except IntegrityError:
        _delivered_again(event.id)
        WebhookEvent.objects.filter(event_id=event.id).exclude(status__in=DONE).update(
            status=WebhookStatus.FAILED, error=error
        )


def body_text(payload: bytes) -> str:
    """The first ``BODY_KEPT`` bytes of a body as text any database stores: bytes that are not
    UTF-8 become U+FFFD, and so does NUL (PostgreSQL's text refuses it)."""
    text = payload[:BODY_KEPT].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return text + "…" if len(payload) > BODY_KEPT else text


def _reject(payload: bytes, error: UnsafeJSON | ShapeUnusable, *, gateway: str) -> Answer:
    """Keep a verified delivery we cannot use, once, and answer so the provider stops."""
    key = getattr(error, "event_id", "") or "sha256:" + hashlib.sha256(payload).hexdigest()
    reason = str(error.message)[:REJECTION_REASON_LENGTH]
    try:
        with transaction.atomic():
            WebhookEvent.objects.create(
                event_id=key,
                type=getattr(error, "event_type", ""),
                gateway=gateway,
                intent_id=getattr(error, "intent_id", ""),
                payload=None,
                status=WebhookStatus.REJECTED,
                reason=reason,
                body=body_text(payload),
                processed_at=clock.now(),
            )
    except IntegrityError:
        _delivered_again(key)
    logger.warning("webhook event %s rejected: %s", key, reason)
    return Answer(200, f"rejected: {reason}")


def webhook_handle(row: WebhookEvent) -> Answer:
    """Handle a stored event (again, for one that failed or was unmatched)."""
    try:
        with transaction.atomic():
            locked = WebhookEvent.objects.select_for_update().get(pk=row.pk)
            if locked.status in DONE and locked.status != WebhookStatus.UNMATCHED:
                return Answer(200, "already handled")
            return _handle_stored(locked)
    except Exception:
        logger.exception("webhook event %s failed", row.event_id)
        WebhookEvent.objects.filter(pk=row.pk).update(
            status=WebhookStatus.FAILED, error=traceback.format_exc()[-10000:]
        )
        return Answer(500, "failed; will be retried")


def _handle_stored(locked: WebhookEvent) -> Answer:
    """Handle a stored row, locked by the caller, read again from what it stores."""
    try:
        event = event_parse(locked.payload)
    except ShapeUnusable as error:
        # Stored before its shape was checked (or by an older version): a person
        # must look at it; handling it again would fail the same way.
        return _rejected_later(locked, error)
    return _handle_locked(locked, event)


def _handle_locked(locked: WebhookEvent, event: Event) -> Answer:
    """Hand ``event`` to its handler and keep the outcome on its row (locked by the caller)."""
    handler = HANDLERS.get(event.type)
    outcome = Outcome(WebhookStatus.IGNORED) if handler is None else handler(event)
    locked.status = outcome.status
    locked.attempt = outcome.attempt
    locked.error = ""
    locked.processed_at = clock.now()
    locked.save(update_fields=["status", "attempt", "error", "processed_at"])
    return Answer(200, outcome.status)


def _rejected_later(locked: WebhookEvent, error: ShapeUnusable) -> Answer:
    locked.status = WebhookStatus.REJECTED
    locked.reason = str(error.message)[:REJECTION_REASON_LENGTH]
    locked.processed_at = clock.now()
    locked.save(update_fields=["status", "reason", "processed_at"])
    logger.warning("stored webhook event %s rejected: %s", locked.event_id, locked.reason)
    return Answer(200, f"rejected: {locked.reason}")
