"""Events signed by the provider whose content we cannot use (issue 20): through the real
endpoint, each is kept once as "rejected" with its reason and the body as received, answered
200 (Stripe retries anything else for three days), and never touches a payment; then the event
parser itself under hypothesis; then the back office's listing of stored events.

Runs on SQLite and PostgreSQL: PostgreSQL refuses what SQLite stores (an event id over 100
characters, NUL in text, NaN in a JSON column), so the same tests show nothing reaches it.
"""

import copy
import hashlib
import json
import uuid

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.gateways import ERROR_LENGTH, MAX_AMOUNT_FEN, IntentState
from payments.gateways.errors import ShapeUnusable
from payments.models import AttemptStatus, BillStatus, WebhookEvent, WebhookStatus
from payments.reconcile import reconcile_payments
from payments.webhooks import BODY_KEPT, Event, event_intent, event_parse, webhook_handle
from portal.core import clock
from tests.factories import StaffUserFactory, UserFactory, totp_enrol
from tests.payments.test_tariff_admin import sign_in
from tests.payments.test_webhooks import URL, bill_attempt, cash_lines, sign, stripe_event

EVENTS = "/cms-admin/payment-events/"


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_webhook_shapes"


def deliver(body: bytes):
    """POST ``body``, correctly signed, as the provider does. The reasons are read in English
    (the provider sends no language; the site's default would be Chinese)."""
    return Client().post(
        URL,
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(body),
        HTTP_ACCEPT_LANGUAGE="en",
    )


def succeeded_event(attempt, **changes) -> dict:
    """A payment_intent.succeeded event for ``attempt``, as JSON to spoil."""
    event = json.loads(stripe_event("payment_intent.succeeded", attempt))
    event.update(changes)
    return event


def digest_key(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def assert_rejected(body: bytes, *, key: str, reason: str, deliveries: int = 1) -> WebhookEvent:
    row = WebhookEvent.objects.get()
    assert (row.event_id, row.status, row.deliveries) == (key, WebhookStatus.REJECTED, deliveries)
    assert reason in row.reason, row.reason
    assert row.payload is None
    assert row.body == body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    assert row.processed_at is not None
    return row


def nothing_paid(bill, attempt) -> None:
    bill.refresh_from_db()
    attempt.refresh_from_db()
    assert (bill.status, attempt.status) == (BillStatus.OPEN, AttemptStatus.PENDING)
    assert not cash_lines().exists()


# --- The four events of the issue ---------------------------------------------------------------


def _no_data(event):
    del event["data"]


def _data_a_list(event):
    event["data"] = [event["data"]]


def _amount_a_string(event):
    event["data"]["object"]["amount"] = str(event["data"]["object"]["amount"])


def _metadata_a_string(event):
    intent = event["data"]["object"]
    intent["metadata"] = "attempt=" + intent["metadata"]["attempt"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (_no_data, "data is missing"),
        (_data_a_list, "data must be an object, not array"),
        (_amount_a_string, "data.object.amount must be a whole number, not string"),
        (_metadata_a_string, "data.object.metadata must be an object, not string"),
    ],
    ids=["no data", "data a list", "amount a string", "metadata a string"],
)
def test_a_signed_event_we_cannot_read_is_kept_as_rejected_and_answered_200(spoil, reason):
    bill, attempt = bill_attempt()
    event = succeeded_event(attempt)
    spoil(event)
    body = json.dumps(event).encode()

    response = deliver(body)

    assert response.status_code == 200
    assert reason in response.content.decode()
    row = assert_rejected(body, key=event["id"], reason=reason)
    assert row.type == "payment_intent.succeeded"
    nothing_paid(bill, attempt)
    # Reconciliation goes past it: a rejected event is for a person, not for handling again.
    report = reconcile_payments(since=clock.today())
    assert row.event_id not in report.needs_person
    row.refresh_from_db()
    assert row.status == WebhookStatus.REJECTED


@pytest.mark.django_db
def test_the_same_unusable_event_delivered_three_times_is_kept_once():
    bill, attempt = bill_attempt()
    event = succeeded_event(attempt)
    event["data"]["object"]["amount"] = "12.50"
    body = json.dumps(event).encode()

    responses = [deliver(body) for _ in range(3)]

    assert [response.status_code for response in responses] == [200, 200, 200]
    assert_rejected(body, key=event["id"], reason="data.object.amount", deliveries=3)
    nothing_paid(bill, attempt)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[1, 2, 3]", "the event must be a JSON object, not array"),
        (b'"evt_1"', "the event must be a JSON object, not string"),
        (b"null", "the event must be a JSON object, not null"),
        (b"", "not valid JSON"),
        (b"<html>not json</html>", "not valid JSON"),
    ],
    ids=["array", "string", "null", "empty", "html"],
)
def test_a_signed_body_that_is_not_a_json_object_is_kept_under_its_digest(body, reason):
    for _ in range(2):
        assert deliver(body).status_code == 200

    row = assert_rejected(body, key=digest_key(body), reason=reason, deliveries=2)
    assert row.type == ""


@pytest.mark.django_db
def test_an_event_id_of_200_characters_is_kept_under_the_bodys_digest():
    bill, attempt = bill_attempt()
    body = json.dumps(succeeded_event(attempt, id="evt_" + "x" * 196)).encode()

    assert deliver(body).status_code == 200

    row = assert_rejected(body, key=digest_key(body), reason="id is longer than 100 characters")
    assert row.type == "payment_intent.succeeded"
    nothing_paid(bill, attempt)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("replace", "by", "reason"),
    [
        ('"amount": ', '"amount": NaN, "was": ', "NaN is not a JSON number"),
        ('"attempt": "', '"attempt": "\\ud800', "lone surrogate"),
        ('"attempt": "', '"attempt": "\\u0000', "NUL character"),
        ('"amount": ', '"amount": 1e999, "was": ', "too large"),
    ],
    ids=["NaN", "lone surrogate", "NUL", "infinity"],
)
def test_json_outside_the_bounds_is_kept_as_rejected_not_a_500(replace, by, reason):
    # PostgreSQL would refuse each in a JSON or text column; safejson refuses it first.
    bill, attempt = bill_attempt()
    text = stripe_event("payment_intent.succeeded", attempt).decode()
    body = text.replace(replace, by, 1).encode()
    assert body != text.encode()

    response = deliver(body)

    assert response.status_code == 200
    assert_rejected(body, key=digest_key(body), reason=reason)
    nothing_paid(bill, attempt)


@pytest.mark.django_db
def test_raw_nul_bytes_and_a_huge_body_are_kept_as_safe_text():
    body = b'{"id": "evt_nul\x00"}' + b" " * (BODY_KEPT + 10)

    assert deliver(body).status_code == 200

    row = WebhookEvent.objects.get()
    assert row.status == WebhookStatus.REJECTED
    assert "\x00" not in row.body
    assert row.body.startswith('{"id": "evt_nul\ufffd"}')
    assert row.body.endswith("…") and len(row.body) == BODY_KEPT + 1


@pytest.mark.django_db
def test_a_body_that_is_not_utf8_cannot_be_verified_and_is_refused_with_nothing_stored():
    # Stripe signs text; the SDK's check cannot read other bytes, so this is not Stripe.
    body = b'{"id": "evt_\xff\xfe"}'

    assert deliver(body).status_code == 400
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_a_bad_signature_on_an_unusable_body_is_still_400_with_nothing_stored():
    body = b"[1, 2, 3]"
    response = Client().post(
        URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE="t=1,v1=forged"
    )
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_an_unusable_event_of_a_type_we_do_not_handle_needs_only_its_id_and_type():
    event = json.loads(stripe_event("customer.created"))
    event["data"] = "anything at all"
    assert deliver(json.dumps(event).encode()).status_code == 200
    assert WebhookEvent.objects.get().status == WebhookStatus.IGNORED

    event = json.loads(stripe_event("customer.created"))
    event["type"] = 42
    body = json.dumps(event).encode()
    assert deliver(body).status_code == 200
    assert WebhookEvent.objects.get(event_id=event["id"]).reason == (
        "type must be a string, not number"
    )


@pytest.mark.django_db
def test_a_stored_event_found_unusable_when_handled_again_is_rejected_not_raised():
    # Stored before its shape was checked, failed, and now handed again to the webhook code by
    # reconciliation (which handles failed and unmatched events again).
    bill, attempt = bill_attempt()
    event = succeeded_event(attempt)
    event["data"]["object"]["metadata"] = "a string"
    row = WebhookEvent.objects.create(
        event_id=event["id"],
        type=event["type"],
        gateway="stripe",
        payload=event,
        status=WebhookStatus.FAILED,
        error="Traceback …",
    )
    assert event_intent(row) is None

    with translation.override("en"):  # the reason is kept in the language of the run
        answer = webhook_handle(row)

    assert answer.status == 200
    row.refresh_from_db()
    assert row.status == WebhookStatus.REJECTED
    assert row.reason == "data.object.metadata must be an object, not string"
    nothing_paid(bill, attempt)
    assert webhook_handle(row).status == 200  # and again: already handled


# --- The parser, for any JSON at all ------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)

intent_states = st.builds(
    IntentState,
    id=st.text(min_size=1, max_size=64),
    status=st.text(min_size=1, max_size=64),
    amount=st.integers(min_value=0, max_value=MAX_AMOUNT_FEN),
    currency=st.from_regex(r"[a-z]{3}", fullmatch=True),
    attempt_uuid=st.uuids().map(str) | st.text(max_size=500),
    payment_method=st.text(min_size=1, max_size=40) | st.just(""),
    error=st.text(min_size=1, max_size=ERROR_LENGTH) | st.just(""),
)

HANDLED_TYPES = st.sampled_from(
    [
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.processing",
        "payment_intent.canceled",
    ]
)


def event_of(state: IntentState, event_type: str) -> dict:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": event_type,
        "data": {"object": state.as_stripe()},
    }


def parse_or_reason(value) -> Event | str:
    """What the parser makes of ``value``: an Event, or the reason it gives. Anything it raises
    other than ShapeUnusable fails the test."""
    try:
        event = event_parse(value)
    except ShapeUnusable as error:
        assert isinstance(error.message, str) and error.message
        assert len(error.event_id) <= 100 and len(error.event_type) <= 100
        assert len(error.intent_id) <= 64
        return error.message
    assert isinstance(event, Event)
    assert isinstance(event.id, str) and 0 < len(event.id) <= 100
    if event.intent is not None:
        assert isinstance(event.intent.amount, int) and 0 <= event.intent.amount <= MAX_AMOUNT_FEN
        assert isinstance(event.intent.attempt_uuid, str)
    return event


@given(json_values)
def test_any_json_value_is_an_event_or_a_reason(value):
    parse_or_reason(value)


def paths(value, prefix=()):
    """Every place inside ``value``: the keys and indexes leading to it."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


@given(intent_states, HANDLED_TYPES, st.data())
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_any_change_to_a_valid_event_gives_an_event_or_a_reason(state, event_type, data):
    event = event_of(state, event_type)
    spoiled = copy.deepcopy(event)
    place = data.draw(st.sampled_from(list(paths(event))[1:]))
    parent = spoiled
    for step in place[:-1]:
        parent = parent[step]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[place[-1]]
    else:
        parent[place[-1]] = data.draw(json_values)

    parse_or_reason(spoiled)


@given(intent_states, HANDLED_TYPES)
def test_a_valid_event_reads_back_as_the_state_it_was_made_from(state, event_type):
    event = event_of(state, event_type)

    parsed = event_parse(json.loads(json.dumps(event)))

    assert (parsed.id, parsed.type, parsed.intent) == (event["id"], event_type, state)


# --- The back office ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_who_see_payments_find_rejected_events_with_their_reason(client, totp_code):
    bill, attempt = bill_attempt()
    assert deliver(stripe_event("payment_intent.succeeded", attempt)).status_code == 200
    spoiled = succeeded_event(attempt)
    spoiled["data"] = []
    for _ in range(2):
        deliver(json.dumps(spoiled).encode())
    viewer = StaffUserFactory()
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="payments", codename="view_paymentattempt")
    )
    sign_in(client, viewer, totp_enrol(viewer), totp_code)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"

    listing = client.get(EVENTS)
    assert listing.status_code == 200
    rows = BeautifulSoup(listing.content, "html.parser").select("tbody tr")
    texts = [row.get_text(" ", strip=True) for row in rows]
    assert len(texts) == 2
    assert spoiled["id"] in texts[0]  # newest first
    assert "data must be an object, not array" in texts[0]

    rejected = client.get(EVENTS, {"status": WebhookStatus.REJECTED})
    text = BeautifulSoup(rejected.content, "html.parser").get_text(" ", strip=True)
    assert spoiled["id"] in text
    processed = WebhookEvent.objects.get(status=WebhookStatus.PROCESSED)
    assert processed.event_id not in text

    row = WebhookEvent.objects.get(event_id=spoiled["id"])
    page = client.get(f"{EVENTS}inspect/{row.pk}/")
    assert page.status_code == 200
    text = BeautifulSoup(page.content, "html.parser").get_text(" ", strip=True)
    assert "data must be an object, not array" in text
    assert '"data": []' in text  # the body as received
    for action in ("edit", "delete", "add", "copy"):
        assert f"{EVENTS}{action}/" not in page.content.decode()
        assert client.get(f"{EVENTS}{action}/{row.pk}/").status_code == 404


@pytest.mark.django_db
def test_customers_and_staff_without_the_permission_do_not_see_the_events(client, totp_code):
    deliver(b"[]")
    client.force_login(UserFactory())
    assert client.get(EVENTS).status_code in (302, 403)

    client.logout()
    staff = StaffUserFactory()
    sign_in(client, staff, totp_enrol(staff), totp_code)
    response = client.get(EVENTS)
    assert response.status_code in (302, 403)
    assert response.get("Location", "/cms-admin/") == "/cms-admin/"
