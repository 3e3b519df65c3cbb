"""The one module that talks to Stripe (STYLE.md; Saleor's stripe_api.py, dj-stripe).

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
"""

from collections.abc import Iterator
from decimal import Decimal
from uuid import UUID

import stripe
from django.conf import settings

from portal.core.money import CURRENCY, yuan_to_fen

# The SDK retries connection failures and 5xx itself, with the same idempotency key.
NETWORK_RETRIES = 2


def stripe_client(*, http_client=None) -> stripe.StripeClient:
    """A client for the configured account (``http_client``: tests record what is sent)."""
    base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else {}
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses=base,
        max_network_retries=NETWORK_RETRIES,
        http_client=http_client,
    )


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


def payment_intent_retrieve(
    intent_id: str, *, client: stripe.StripeClient | None = None
) -> stripe.PaymentIntent:
    return (client or stripe_client()).v1.payment_intents.retrieve(intent_id)


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


def payment_intents_list(
    created_gte: int, *, client: stripe.StripeClient | None = None
) -> Iterator[stripe.PaymentIntent]:
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
    for intent in page.auto_paging_iter():
        if intent.created >= created_gte:
            yield intent
