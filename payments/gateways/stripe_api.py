"""The one module that talks to Stripe (STYLE.md; Saleor's stripe_api.py, dj-stripe), and the
only one that imports its SDK (the import contract says so, docs/architecture.md).

- Amounts cross as integer fen in CNY, converted only by ``portal.core.money``.
- Every call that creates something passes an idempotency key, derived by the caller from our
  own record's UUID and stored with it, so our own retries reuse it and Stripe answers a retry
  with the object it already made (keys live at least 24 h; reusing one with other parameters
  is an error).
- Our payment attempt's UUID travels in ``metadata["attempt"]``: the webhook and reconciliation
  find the attempt by it and compare it, with the amount and currency, before crediting.
- ``STRIPE_API_BASE`` points the SDK at a Stripe-compatible test server (localstripe in tests).
- Card data never reaches us: the customer's browser talks to Stripe (the Payment Element);
  we only ever see PaymentIntent ids and statuses.
- The SDK's exceptions stop here: every function raises ``GatewayUnavailable`` or
  ``GatewayRefused`` (payments/gateways/errors.py) instead.
"""

import functools
from collections.abc import Sequence
from decimal import Decimal
from uuid import UUID

import stripe
from django.conf import settings

from portal.core import safejson
from portal.core.money import CURRENCY, yuan_to_fen

from .errors import GatewayRefused, GatewayUnavailable, SignatureInvalid

# The SDK retries connection failures and 5xx itself, with the same idempotency key.
NETWORK_RETRIES = 2
API_VERSION = stripe.api_version
"""The Stripe API version our events are shaped by (the local test gateway writes the same)."""
# Stripe's answers that say "not now" rather than "no": the outcome of the call is unknown.
_TRANSIENT = (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError)


def _message(error: stripe.StripeError) -> str:
    return (getattr(error, "user_message", None) or str(error))[:300]


def _translated(function):
    """Raise our gateway errors instead of the SDK's."""

    @functools.wraps(function)
    def call(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except _TRANSIENT as error:
            raise GatewayUnavailable(_message(error)) from error
        except stripe.StripeError as error:
            raise GatewayRefused(_message(error), code=getattr(error, "code", "") or "") from error

    return call


def stripe_client(*, http_client=None) -> stripe.StripeClient:
    """A client for the configured account (``http_client``: tests record what is sent)."""
    base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else {}
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses=base,
        max_network_retries=NETWORK_RETRIES,
        http_client=http_client,
    )


@_translated
def payment_intent_create(
    *,
    attempt_uuid: UUID,
    amount: Decimal,
    idempotency_key: str,
    description: str = "",
    payment_method: str | None = None,
    confirm: bool = False,
    client: stripe.StripeClient | None = None,
) -> stripe.PaymentIntent:
    """A PaymentIntent for ``amount`` yuan, in CNY, by the configured payment method types.
    ``payment_method``/``confirm`` are for server-side confirmation (tests, reconciliation
    drills); the pay page confirms in the browser with the client secret."""
    params = {
        "amount": yuan_to_fen(amount),
        "currency": CURRENCY,
        "payment_method_types": list(settings.STRIPE_PAYMENT_METHOD_TYPES),
        "metadata": {"attempt": str(attempt_uuid)},
    }
    if description:
        params["description"] = description
    if payment_method is not None:
        params["payment_method"] = payment_method
        params["confirm"] = confirm
    return (client or stripe_client()).v1.payment_intents.create(
        params=params, options={"idempotency_key": idempotency_key}
    )


@_translated
def payment_intent_retrieve(
    intent_id: str, *, client: stripe.StripeClient | None = None
) -> stripe.PaymentIntent:
    return (client or stripe_client()).v1.payment_intents.retrieve(intent_id)


@_translated
def refund_create(
    *,
    intent_id: str,
    amount: Decimal,
    idempotency_key: str,
    client: stripe.StripeClient | None = None,
) -> stripe.Refund:
    """Refund ``amount`` yuan of a succeeded PaymentIntent."""
    return (client or stripe_client()).v1.refunds.create(
        params={"payment_intent": intent_id, "amount": yuan_to_fen(amount)},
        options={"idempotency_key": idempotency_key},
    )


@_translated
def payment_intent_cancel(
    intent_id: str, *, client: stripe.StripeClient | None = None
) -> stripe.PaymentIntent:
    """Cancel an unpaid PaymentIntent; one that succeeded or was cancelled already is refused
    (``GatewayRefused``)."""
    return (client or stripe_client()).v1.payment_intents.cancel(intent_id)


@_translated
def payment_intents_list(
    created_gte: int, *, client: stripe.StripeClient | None = None
) -> list[stripe.PaymentIntent]:
    """Every PaymentIntent created at or after ``created_gte`` (a Unix time), page after page
    (reconciliation). Stripe filters by ``created`` itself; a Stripe-compatible test server
    that refuses the filter (localstripe answers 400) gets the whole list, filtered here."""
    client = client or stripe_client()
    params = {"limit": 100, "created": {"gte": created_gte}}
    try:
        page = client.v1.payment_intents.list(params=params)
    except stripe.InvalidRequestError:
        if not settings.STRIPE_API_BASE:
            raise
        page = client.v1.payment_intents.list(params={"limit": 100})
    return [intent for intent in page.auto_paging_iter() if intent.created >= created_gte]


def event_verify(payload: bytes, signature: str, *, secrets: Sequence[str], tolerance: int):
    """The JSON in a webhook's raw body once its ``Stripe-Signature`` header verifies with one
    of ``secrets`` within ``tolerance`` seconds (the SDK's own check, each secret in turn: the
    endpoint's current secret first, then any earlier one still kept while a roll-over settles);
    ``SignatureInvalid`` otherwise, with the SDK's reason for the first secret. The body is
    parsed only after that, within bounds (``portal.core.safejson``: ``UnsafeJSON`` for NaN, a
    lone surrogate, 100,000 brackets …), and may be any JSON value: what an event must hold is
    the caller's to check. The SDK's ``construct_event`` is not used: it parses with plain
    ``json.loads`` before it checks anything."""
    first_error = None
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance)
        except stripe.SignatureVerificationError as error:
            first_error = first_error or error
            continue
        except UnicodeDecodeError as error:
            # Stripe signs text: a body that is not UTF-8 is not one of its events.
            raise SignatureInvalid("the body is not UTF-8") from error
        return safejson.loads(payload)
    raise SignatureInvalid(str(first_error or "no webhook secret")[:200]) from first_error
