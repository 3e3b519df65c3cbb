"""The Stripe boundary, with the real stripe SDK against localstripe: yuan leave as fen in CNY,
our attempt's UUID travels in the metadata, and every create carries our idempotency key."""

import uuid
from decimal import Decimal

import pytest
from stripe._http_client import RequestsClient

from payments.gateways.errors import GatewayRefused
from payments.gateways.stripe_api import (
    payment_intent_create,
    payment_intent_retrieve,
    refund_create,
    stripe_client,
)
from portal.core.money import MoneyError, fen_to_yuan


class RecordingClient(RequestsClient):
    """The SDK's own HTTP client, keeping the headers of every request it sends."""

    def __init__(self):
        super().__init__()
        self.sent: list[tuple[str, str, dict, str]] = []

    def request(self, method, url, headers, post_data=None):
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        self.sent.append((method, url, dict(headers or {}), body))
        return super().request(method, url, headers, post_data)


def test_a_confirmed_card_payment_succeeds_for_the_amount_in_fen(stripe_settings):
    attempt = uuid.uuid4()

    intent = payment_intent_create(
        attempt_uuid=attempt,
        amount=Decimal("123.45"),
        idempotency_key=f"attempt-{attempt}",
        payment_method="pm_card_visa",
        confirm=True,
    )

    assert intent.status == "succeeded"
    assert (intent.amount, intent.currency) == (12345, "cny")
    assert fen_to_yuan(intent.amount) == Decimal("123.45")
    assert intent.metadata["attempt"] == str(attempt)
    again = payment_intent_retrieve(intent.id)
    assert (again.id, again.status, again.metadata["attempt"]) == (
        intent.id,
        "succeeded",
        str(attempt),
    )


def test_a_declined_card_is_refused_with_stripes_reason(stripe_settings):
    attempt = uuid.uuid4()

    with pytest.raises(GatewayRefused) as declined:
        payment_intent_create(
            attempt_uuid=attempt,
            amount=Decimal("50.00"),
            idempotency_key=f"attempt-{attempt}",
            payment_method="pm_card_chargeCustomerFail",
            confirm=True,
        )

    assert declined.value.code == "card_declined"


def test_an_unconfirmed_intent_waits_for_the_customer(stripe_settings):
    recorder = RecordingClient()
    attempt = uuid.uuid4()

    intent = payment_intent_create(
        attempt_uuid=attempt,
        amount=Decimal("88.00"),
        idempotency_key=f"attempt-{attempt}",
        client=stripe_client(http_client=recorder),
    )

    assert intent.status == "requires_payment_method"
    assert intent.client_secret
    # The payment method types come from the setting (localstripe does not echo them back).
    (_method, _url, _headers, body) = recorder.sent[0]
    assert "payment_method_types[0]=card" in body
    assert "currency=cny" in body and "amount=8800" in body


def test_part_of_a_payment_is_refunded_in_fen(stripe_settings):
    attempt = uuid.uuid4()
    intent = payment_intent_create(
        attempt_uuid=attempt,
        amount=Decimal("200.00"),
        idempotency_key=f"attempt-{attempt}",
        payment_method="pm_card_visa",
        confirm=True,
    )

    refund = refund_create(
        intent_id=intent.id, amount=Decimal("80.50"), idempotency_key=f"refund-{attempt}-1"
    )

    assert refund.amount == 8050
    assert refund.status == "succeeded"


def test_every_create_sends_our_stored_idempotency_key(stripe_settings):
    # localstripe ignores the header, so what our client sends is checked on the way out.
    recorder = RecordingClient()
    client = stripe_client(http_client=recorder)
    attempt = uuid.uuid4()
    key = f"attempt-{attempt}"

    payment_intent_create(
        attempt_uuid=attempt, amount=Decimal("10.00"), idempotency_key=key, client=client
    )
    payment_intent_create(
        attempt_uuid=attempt, amount=Decimal("10.00"), idempotency_key=key, client=client
    )

    posts = [headers for method, _url, headers, _body in recorder.sent if method == "post"]
    assert len(posts) == 2
    assert [headers.get("Idempotency-Key") for headers in posts] == [key, key]
    assert all(headers["Authorization"] == "Bearer sk_test_powerhall" for headers in posts)


def test_fractions_of_a_fen_never_reach_stripe(stripe_settings):
    recorder = RecordingClient()
    with pytest.raises(MoneyError):
        payment_intent_create(
            attempt_uuid=uuid.uuid4(),
            amount=Decimal("10.005"),
            idempotency_key="attempt-x",
            client=stripe_client(http_client=recorder),
        )
    assert recorder.sent == []
