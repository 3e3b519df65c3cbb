"""Receiving the payment provider's events (Stripe's webhooks, or the local test gateway's).

1. No ``Stripe-Signature`` header, a bad signature, or a timestamp outside Stripe's 300 s
   tolerance: 400, nothing stored.
2. A verified event is stored under its unique id before anything else (its own short
   transaction). A repeat of an event already handled changes nothing and answers 200.
3. It is then handled by type (``HANDLERS``) under a lock on its row, so two deliveries of the
   same event at once are handled once. An event about a payment we do not know (yet) is kept
   as "unmatched" and answered 200; reconciliation picks it up. A type we do not handle is kept
   as "ignored".
4. A failure inside a handler rolls its work back, is recorded with its traceback, and answers
   500 so the provider delivers the event again.
"""

import logging
import traceback
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F

from portal.core import clock

from . import gateways
from .fulfilment import Outcome, intent_apply
from .gateways import IntentState
from .gateways.errors import SignatureInvalid
from .models import WebhookEvent, WebhookStatus

logger = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300
DONE = (
    WebhookStatus.PROCESSED,
    WebhookStatus.IGNORED,
    WebhookStatus.UNMATCHED,
    WebhookStatus.FLAGGED,
)


def _payment_intent(data: dict) -> Outcome:
    return intent_apply(state=IntentState.from_stripe(data), source="webhook")


HANDLERS = {
    "payment_intent.succeeded": _payment_intent,
    "payment_intent.payment_failed": _payment_intent,
    "payment_intent.processing": _payment_intent,
    "payment_intent.canceled": _payment_intent,
}


@dataclass(frozen=True)
class Answer:
    status: int
    text: str


def webhook_receive(payload: bytes, signature: str | None, *, gateway: str) -> Answer:
    """Verify, store and handle one delivery. ``payload`` is the raw request body."""
    if not signature:
        return Answer(400, "missing signature")
    try:
        data = gateways.event_verify(payload, signature, tolerance=TOLERANCE_SECONDS)
    except SignatureInvalid:
        return Answer(400, "bad signature")
    row = _store(data, gateway=gateway)
    if row.status in DONE:
        return Answer(200, "already handled")
    return webhook_handle(row)


def _store(data: dict, *, gateway: str) -> WebhookEvent:
    obj = (data.get("data") or {}).get("object") or {}
    intent_id = obj.get("id", "") if obj.get("object") == "payment_intent" else ""
    try:
        with transaction.atomic():
            return WebhookEvent.objects.create(
                event_id=data["id"],
                type=data.get("type", ""),
                gateway=gateway,
                intent_id=intent_id[:64],
                payload=data,
            )
    except IntegrityError:
        WebhookEvent.objects.filter(event_id=data["id"]).update(deliveries=F("deliveries") + 1)
        return WebhookEvent.objects.get(event_id=data["id"])


def webhook_handle(row: WebhookEvent) -> Answer:
    """Handle a stored event (again, for one that failed or was unmatched)."""
    try:
        with transaction.atomic():
            locked = WebhookEvent.objects.select_for_update().get(pk=row.pk)
            if locked.status in DONE and locked.status != WebhookStatus.UNMATCHED:
                return Answer(200, "already handled")
            handler = HANDLERS.get(locked.type)
            if handler is None:
                outcome = Outcome(WebhookStatus.IGNORED)
            else:
                outcome = handler(locked.payload["data"]["object"])
            locked.status = outcome.status
            locked.attempt = outcome.attempt
            locked.error = ""
            locked.processed_at = clock.now()
            locked.save(update_fields=["status", "attempt", "error", "processed_at"])
    except Exception:
        logger.exception("webhook event %s failed", row.event_id)
        WebhookEvent.objects.filter(pk=row.pk).update(
            status=WebhookStatus.FAILED, error=traceback.format_exc()[-10000:]
        )
        return Answer(500, "failed; will be retried")
    return Answer(200, outcome.status)
