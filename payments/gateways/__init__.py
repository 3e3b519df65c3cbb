"""The two payment gateways behind one face: Stripe, and the local test gateway.

With ``STRIPE_SECRET_KEY`` set the portal takes money through Stripe (PaymentIntents, the
Payment Element on our page, webhooks). Without it, in development and tests only (production
refuses to start without the keys), the local test gateway stands in: a marked test page whose
buttons produce events of Stripe's shape, signed as Stripe signs them, handed to the same webhook
code (``payments.webhooks.webhook_receive``). Fulfilment cannot tell which gateway served it: it
sees an ``IntentState`` either way.

Callers see our own errors (``errors.py``), never the Stripe SDK's: only ``stripe_api.py``
imports it.
"""

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from portal.core import clock
from portal.core.money import yuan_to_fen

from ..models import Gateway, LocalIntent, PaymentAttempt
from ..models.fields import MONEY
from . import shapes, stripe_api
from .errors import GatewayRefused, ShapeUnusable

# A PaymentIntent's statuses (Stripe's names; the local gateway uses the same).
SUCCEEDED = "succeeded"
PROCESSING = "processing"
CANCELED = "canceled"
REQUIRES_PAYMENT_METHOD = "requires_payment_method"

# Bounds of the PaymentIntent fields we read (IntentState.from_stripe): what our columns hold.
ID_LENGTH = 64
"""``PaymentAttempt.intent_id`` and ``WebhookEvent.intent_id`` (Stripe's ids are about 27)."""
STATUS_LENGTH = 64
MAX_AMOUNT_FEN = 10 ** MONEY["max_digits"] - 1
"""The most fen a money column holds as yuan (Stripe's own limit for CNY is far lower)."""
METADATA_VALUE_LENGTH = 500
"""Stripe's limit for one metadata value."""
PAYMENT_METHOD_LENGTH = 40
"""``PaymentAttempt.payment_method``."""
MAX_PAYMENT_METHOD_TYPES = 50
MAX_MESSAGE_LENGTH = 5000
"""A ``last_payment_error`` message or code (a sentence); we keep its first ``ERROR_LENGTH``."""
ERROR_LENGTH = 300
_CURRENCY = re.compile(r"[A-Za-z]{3}")


def gateway_name() -> str:
    return Gateway.STRIPE if settings.STRIPE_SECRET_KEY else Gateway.LOCAL


def webhook_secret() -> str:
    """The secret webhooks are signed with: Stripe's endpoint secret, or (local gateway, no
    Stripe keys, development only) one derived from SECRET_KEY."""
    if settings.STRIPE_WEBHOOK_SECRET:
        return settings.STRIPE_WEBHOOK_SECRET
    digest = hmac.new(settings.SECRET_KEY.encode(), b"local-gateway-webhooks", hashlib.sha256)
    return "whsec_local_" + digest.hexdigest()


def webhook_secrets() -> list[str]:
    """Every secret a webhook may be signed with: the current one (``webhook_secret``), then the
    endpoint's earlier secrets kept while a roll-over settles (``STRIPE_WEBHOOK_PREVIOUS_SECRETS``,
    docs/operations.md, "Rotating secrets")."""
    current = webhook_secret()
    earlier = [s for s in settings.STRIPE_WEBHOOK_PREVIOUS_SECRETS if s and s != current]
    return [current, *earlier]


def signature_header(payload: bytes, *, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header for ``payload``, computed as Stripe does: an HMAC-SHA256
    of ``"<timestamp>.<payload>"`` with the endpoint secret."""
    timestamp = int(clock.now().timestamp()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    mac = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@dataclass(frozen=True)
class IntentState:
    """What a gateway says about one payment: a PaymentIntent's fields we act on."""

    id: str
    status: str
    amount: int
    """Fen."""
    currency: str
    attempt_uuid: str
    """``metadata["attempt"]``: empty when the intent is not one of ours."""
    payment_method: str = ""
    error: str = ""

    @classmethod
    def from_stripe(cls, obj, *, path: str = "") -> "IntentState":
        """From a PaymentIntent: an SDK object, or the plain JSON inside an event (``path`` names
        where, for the reasons: ``data.object``). Only the fields we act on are read, each
        checked for its type and bounds; ``ShapeUnusable`` names the first that is not usable.
        """
        data = obj.to_dict() if hasattr(obj, "to_dict") else obj
        prefix = f"{path}." if path else ""
        data = shapes.obj(data, path or "payment_intent")
        intent_object = shapes.field(data, "object")
        if intent_object is not shapes.MISSING and intent_object != "payment_intent":
            raise ShapeUnusable(
                _("%(field)s is not a PaymentIntent") % {"field": path or "payment_intent"}
            )
        intent_id = shapes.text(shapes.field(data, "id"), f"{prefix}id", max_length=ID_LENGTH)
        try:
            return cls._fields(data, prefix, intent_id)
        except ShapeUnusable as error:
            error.intent_id = intent_id
            raise

    @classmethod
    def _fields(cls, data: dict, prefix: str, intent_id: str) -> "IntentState":
        currency = shapes.text(shapes.field(data, "currency"), f"{prefix}currency", max_length=3)
        if not _CURRENCY.fullmatch(currency):
            raise ShapeUnusable(
                _("%(field)s is not a currency code of three letters")
                % {"field": f"{prefix}currency"}
            )
        metadata = shapes.obj(shapes.field(data, "metadata"), f"{prefix}metadata", optional=True)
        error = shapes.obj(
            shapes.field(data, "last_payment_error"), f"{prefix}last_payment_error", optional=True
        )
        types = shapes.texts(
            shapes.field(data, "payment_method_types"),
            f"{prefix}payment_method_types",
            max_items=MAX_PAYMENT_METHOD_TYPES,
            max_length=PAYMENT_METHOD_LENGTH,
        )
        message = shapes.text(
            shapes.field(error, "message"),
            f"{prefix}last_payment_error.message",
            max_length=MAX_MESSAGE_LENGTH,
            optional=True,
        )
        code = shapes.text(
            shapes.field(error, "code"),
            f"{prefix}last_payment_error.code",
            max_length=MAX_MESSAGE_LENGTH,
            optional=True,
        )
        return cls(
            id=intent_id,
            status=shapes.text(
                shapes.field(data, "status"), f"{prefix}status", max_length=STATUS_LENGTH
            ),
            amount=shapes.whole_number(
                shapes.field(data, "amount"), f"{prefix}amount", maximum=MAX_AMOUNT_FEN
            ),
            currency=currency.lower(),
            attempt_uuid=shapes.text(
                shapes.field(metadata, "attempt"),
                f"{prefix}metadata.attempt",
                max_length=METADATA_VALUE_LENGTH,
                optional=True,
            ),
            payment_method=types[0] if len(types) == 1 else "",
            error=(message or code)[:ERROR_LENGTH],
        )

    def as_stripe(self) -> dict:
        """The PaymentIntent as Stripe would put it in an event's ``data.object``."""
        intent = {
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_received": self.amount if self.status == SUCCEEDED else 0,
            "currency": self.currency,
            "metadata": {"attempt": self.attempt_uuid},
            "payment_method_types": [self.payment_method] if self.payment_method else [],
            "status": self.status,
            "livemode": False,
        }
        intent["last_payment_error"] = (
            {"code": "card_declined", "message": self.error} if self.error else None
        )
        return intent


@dataclass(frozen=True)
class RefundResult:
    id: str
    succeeded: bool
    error: str = ""


# --- Creating and asking ------------------------------------------------------------------------
def intent_create(attempt: PaymentAttempt) -> tuple[str, str]:
    """(intent id, client secret) of a new payment for ``attempt``'s frozen amount. For Stripe,
    with the attempt's stored idempotency key: called again, it gets back the same intent.
    No ``description``: localstripe (the test server) refuses the parameter, and the attempt's
    UUID in the metadata already names the payment (its reference is derived from it)."""
    if attempt.gateway == Gateway.STRIPE:
        intent = stripe_api.payment_intent_create(
            attempt_uuid=attempt.uuid,
            amount=attempt.amount,
            idempotency_key=attempt.idempotency_key,
        )
        return intent.id, intent.client_secret or ""
    local, _created = LocalIntent.objects.get_or_create(
        attempt_uuid=attempt.uuid,
        defaults={
            "intent_id": f"pi_local_{secrets.token_hex(12)}",
            "amount": yuan_to_fen(attempt.amount),
            "currency": attempt.currency,
        },
    )
    return local.intent_id, ""


def intent_retrieve(attempt: PaymentAttempt) -> IntentState | None:
    """What the gateway says now about the attempt's payment (None: it has none)."""
    if not attempt.intent_id:
        return None
    if attempt.gateway == Gateway.STRIPE:
        return IntentState.from_stripe(stripe_api.payment_intent_retrieve(attempt.intent_id))
    local = LocalIntent.objects.filter(intent_id=attempt.intent_id).first()
    return local_state(local) if local else None


def intent_cancel(attempt: PaymentAttempt) -> IntentState | None:
    """Cancel the attempt's unpaid payment at the gateway (an attempt that expired). A payment
    that already succeeded cannot be cancelled: the state returned says so."""
    if not attempt.intent_id:
        return None
    if attempt.gateway == Gateway.STRIPE:
        try:
            intent = stripe_api.payment_intent_cancel(attempt.intent_id)
        except GatewayRefused:
            # Already succeeded or cancelled: read what it is.
            return intent_retrieve(attempt)
        return IntentState.from_stripe(intent)
    with transaction.atomic():
        local = LocalIntent.objects.select_for_update().get(intent_id=attempt.intent_id)
        if local.status not in (SUCCEEDED, CANCELED):
            local.status = CANCELED
            local.save(update_fields=["status", "updated_at"])
    return local_state(local)


def refund(
    attempt: PaymentAttempt, *, amount: Decimal, idempotency_key: str, client=None
) -> RefundResult:
    """Give back ``amount`` yuan of the attempt's succeeded payment. ``client``: a Stripe client
    (tests record what is sent)."""
    if attempt.gateway == Gateway.STRIPE:
        try:
            result = stripe_api.refund_create(
                intent_id=attempt.intent_id,
                amount=amount,
                idempotency_key=idempotency_key,
                client=client,
            )
        except GatewayRefused as error:
            # (GatewayUnavailable goes up: the outcome is unknown, the refund stays pending and
            # a retry reuses its key.)
            return RefundResult(id="", succeeded=False, error=str(error.message)[:300])
        # localstripe and Stripe's card refunds answer "succeeded" or "pending" (settles later).
        return RefundResult(id=result.id, succeeded=result.status in ("succeeded", "pending"))
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
    return RefundResult(id=f"re_local_{digest}", succeeded=True)


def intents_since(start) -> list[IntentState] | None:
    """Every payment the provider took or tried since ``start`` (reconciliation); None for the
    local gateway, whose payments are made from our own attempts."""
    if gateway_name() != Gateway.STRIPE:
        return None
    return [
        IntentState.from_stripe(intent)
        for intent in stripe_api.payment_intents_list(int(start.timestamp()))
    ]


def event_verify(payload: bytes, signature: str, *, tolerance: int):
    """A webhook's body as JSON (any JSON value: ``payments.webhooks.event_parse`` reads the
    event from it) once its signature verifies: ``SignatureInvalid`` otherwise, and
    ``portal.core.safejson.UnsafeJSON`` for a verified body that is not JSON within the bounds.
    Stripe's and the local gateway's are signed alike."""
    return stripe_api.event_verify(
        payload, signature, secrets=webhook_secrets(), tolerance=tolerance
    )


# --- The local test gateway ---------------------------------------------------------------------
def local_state(local: LocalIntent) -> IntentState:
    return IntentState(
        id=local.intent_id,
        status=local.status,
        amount=local.amount,
        currency=local.currency,
        attempt_uuid=str(local.attempt_uuid),
        payment_method="card",
        error=local.last_error,
    )


LOCAL_OUTCOMES = {
    # button → (intent status, event type, error shown to the customer)
    "succeed": (SUCCEEDED, "payment_intent.succeeded", ""),
    "decline": (
        REQUIRES_PAYMENT_METHOD,
        "payment_intent.payment_failed",
        # Stripe's own wording for a declined card; the pages translate it (gettext_noop).
        gettext_noop("Your card was declined."),
    ),
    "cancel": (CANCELED, "payment_intent.canceled", ""),
}


def local_outcome(attempt: PaymentAttempt, outcome: str) -> tuple[bytes, str]:
    """Settle the local payment of ``attempt`` as the tester chose and return the signed event
    (body, ``Stripe-Signature`` header) for the webhook endpoint, exactly as Stripe would send it.
    A payment that already succeeded stays succeeded (the event then repeats that)."""
    status, event_type, error = LOCAL_OUTCOMES[outcome]
    with transaction.atomic():
        local = LocalIntent.objects.select_for_update().get(intent_id=attempt.intent_id)
        if local.status not in (SUCCEEDED, CANCELED):
            local.status = status
            local.last_error = error
            local.save(update_fields=["status", "last_error", "updated_at"])
        elif local.status == SUCCEEDED:
            event_type = "payment_intent.succeeded"
        else:
            event_type = "payment_intent.canceled"
    return local_event(local_state(local), event_type)


def local_event(state: IntentState, event_type: str) -> tuple[bytes, str]:
    """A signed event of Stripe's shape about ``state``."""
    event = {
        "id": f"evt_local_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": stripe_api.API_VERSION,
        "created": int(clock.now().timestamp()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
        "data": {"object": state.as_stripe()},
    }
    payload = json.dumps(event, separators=(",", ":")).encode()
    return payload, signature_header(payload, secret=webhook_secret())
