"""The webhook endpoint /pay/webhooks/stripe/ as the payment provider sees it: signed Stripe-shaped
events (tests/fixtures/stripe/*.json, signed here with a real HMAC and the timestamp each test
chooses), posted over HTTP with Django's test client; then localstripe's own signed webhooks
delivered to a live server, and a payment whose webhook never came, repaired by reconciliation.

Signature, storage, duplicates, mismatches and failures run on SQLite and on PostgreSQL; the
races (two deliveries at once, the return page against the webhook, an event before our attempt
is committed) need PostgreSQL's row locks and run there only. 50 payments of one bill at once:
tests/payments/test_payment_concurrency.py.
"""

import json
import secrets
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
import stripe
import time_machine
from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django_tasks_db.models import DBTaskResult

from payments import checkout, fulfilment, gateways
from payments.gateways import stripe_api
from payments.models import (
    AttemptStatus,
    BillingExport,
    BillStatus,
    Book,
    Gateway,
    LedgerLine,
    PaymentAttempt,
    WebhookEvent,
    WebhookStatus,
)
from payments.reconcile import reconcile_payments
from payments.webhooks import TOLERANCE_SECONDS, webhook_handle
from portal.core.money import yuan_to_fen
from portal.models import AuditEvent, Notification, NotificationKind, NotificationStatus
from tests.factories import BillFactory, BindingFactory, UserFactory
from tests.payments.test_ledger import assert_ledger_balances

URL = "/pay/webhooks/stripe/"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "stripe"
POSTGRESQL_ONLY = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks under concurrency: PostgreSQL only"
)


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    """The endpoint's secret, which every event here is signed with. The attempts use the local
    gateway (no Stripe key) unless a test asks for stripe_settings; the endpoint checks the same
    secret either way."""
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_webhooks"


# --- Helpers ------------------------------------------------------------------------------------


def stripe_event(name: str, attempt: PaymentAttempt | None = None, **changes) -> bytes:
    """The body of a fixture event (tests/fixtures/stripe/<name>.json) with a fresh event id,
    its PaymentIntent made out for ``attempt`` (id, amount in fen, currency, our UUID in the
    metadata), then ``changes`` applied to ``data.object``."""
    event = json.loads((FIXTURES / f"{name}.json").read_text())
    event["id"] = f"evt_test_{secrets.token_hex(12)}"
    event["created"] = int(time.time())
    intent = event["data"]["object"]
    if attempt is not None:
        amount = yuan_to_fen(attempt.amount)
        intent.update(
            id=attempt.intent_id,
            amount=amount,
            amount_received=amount if intent["status"] == "succeeded" else 0,
            currency=attempt.currency,
            description=attempt.reference,
            metadata={"attempt": str(attempt.uuid)},
        )
    intent.update(changes)
    return json.dumps(event, indent=2).encode()


def sign(body: bytes, *, timestamp: int | None = None, secret: str | None = None) -> str:
    return gateways.signature_header(
        body, secret=secret or settings.STRIPE_WEBHOOK_SECRET, timestamp=timestamp
    )


def deliver(body: bytes, signature: str | None = "sign", *, client: Client | None = None):
    """POST ``body`` to the endpoint as the provider does (``signature=None``: no header)."""
    if signature == "sign":
        signature = sign(body)
    headers = {"HTTP_STRIPE_SIGNATURE": signature} if signature is not None else {}
    return (client or Client()).post(URL, body, content_type="application/json", **headers)


def bill_attempt(user=None, **bill):
    """A bill of the person's own account and a begun payment attempt for it (local gateway:
    the events below are Stripe's shape either way)."""
    user = user or UserFactory()
    bill = BillFactory(account=BindingFactory(user=user).account, **bill)
    attempt = checkout.attempt_begin(
        attempt=checkout.attempt_create(user=user, bill_uuids=[bill.uuid])
    )
    return bill, attempt


def cash_lines():
    return LedgerLine.objects.filter(book=Book.CASH)


def nothing_stored():
    return not WebhookEvent.objects.exists() and not cash_lines().exists()


def close_connection_after(work):
    """``work`` as a thread's target that closes the thread's own database connection at the
    end (Django gives each thread its own; left open, it would outlive the test)."""

    def run(*args):
        try:
            work(*args)
        finally:
            connection.close()

    return run


# --- Signatures: refused before anything is stored ----------------------------------------------


@pytest.mark.django_db
def test_an_event_without_a_signature_is_refused_and_nothing_is_stored():
    _bill, attempt = bill_attempt()

    response = deliver(stripe_event("payment_intent.succeeded", attempt), signature=None)

    assert response.status_code == 400
    assert nothing_stored()


@pytest.mark.django_db
def test_a_tampered_body_is_refused_and_nothing_is_stored():
    _bill, attempt = bill_attempt()
    body = stripe_event("payment_intent.succeeded", attempt)
    signature = sign(body)
    # Someone in the middle raises what the provider says was paid; the signature no longer fits.
    tampered = body.replace(f'"amount": {yuan_to_fen(attempt.amount)}'.encode(), b'"amount": 1', 1)
    assert tampered != body

    assert deliver(tampered, signature).status_code == 400
    assert deliver(body, sign(body, secret="whsec_someone_else")).status_code == 400
    assert deliver(body, "t=1,v1=not-a-signature").status_code == 400
    assert nothing_stored()
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.PENDING


@pytest.mark.django_db
def test_a_signature_older_than_stripes_tolerance_is_refused_and_nothing_is_stored():
    _bill, attempt = bill_attempt()
    body = stripe_event("payment_intent.succeeded", attempt)
    now = int(time.time())

    # The clock stands still, so "301 s ago" is exactly that when the endpoint checks it.
    with time_machine.travel(now, tick=False):
        stale = deliver(body, sign(body, timestamp=now - TOLERANCE_SECONDS - 1))
    assert stale.status_code == 400
    assert nothing_stored()

    # Right at the edge of the 300 s it is still Stripe's (a slow delivery, not a replay).
    with time_machine.travel(now, tick=False):
        edge = deliver(body, sign(body, timestamp=now - TOLERANCE_SECONDS))
    assert edge.status_code == 200
    assert WebhookEvent.objects.get().status == WebhookStatus.PROCESSED


# --- Rolling the endpoint's secret --------------------------------------------------------------


@pytest.mark.django_db
def test_during_a_roll_over_an_event_signed_with_the_previous_secret_is_accepted(settings):
    # The new secret is deployed; a delivery still signed with the old one alone (Stripe told to
    # expire it "now", or a server that signs before the dashboard change reached Stripe).
    old, new = "whsec_before_the_roll", "whsec_after_the_roll"
    settings.STRIPE_WEBHOOK_SECRET = new
    settings.STRIPE_WEBHOOK_PREVIOUS_SECRETS = [old]
    _bill, attempt = bill_attempt()
    body = stripe_event("payment_intent.succeeded", attempt)

    assert deliver(body, sign(body, secret=old)).status_code == 200
    assert WebhookEvent.objects.get().status == WebhookStatus.PROCESSED
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED
    # Still only our secrets: one neither current nor previous is refused.
    other = stripe_event("payment_intent.succeeded", attempt)
    assert deliver(other, sign(other, secret="whsec_someone_else")).status_code == 400


@pytest.mark.django_db
def test_once_the_previous_secret_is_dropped_its_signature_is_refused(settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_after_the_roll"
    settings.STRIPE_WEBHOOK_PREVIOUS_SECRETS = []
    _bill, attempt = bill_attempt()
    body = stripe_event("payment_intent.succeeded", attempt)

    assert deliver(body, sign(body, secret="whsec_before_the_roll")).status_code == 400
    assert nothing_stored()


@pytest.mark.django_db
@pytest.mark.parametrize("configured", ["new", "old"])
def test_stripes_two_signatures_while_both_secrets_are_active_verify_with_either(
    settings, configured
):
    # Stripe keeps the old secret active for a while when asked, and then signs every delivery
    # with both: two v1 entries in one header. Each app server verifies with the secret it has.
    old, new = "whsec_before_the_roll", "whsec_after_the_roll"
    settings.STRIPE_WEBHOOK_SECRET = new if configured == "new" else old
    _bill, attempt = bill_attempt()
    body = stripe_event("payment_intent.succeeded", attempt)
    now = int(time.time())
    with_new, with_old = (
        sign(body, secret=new, timestamp=now),
        sign(body, secret=old, timestamp=now),
    )
    header = with_new + ",v1=" + with_old.split("v1=", 1)[1]

    assert deliver(body, header).status_code == 200
    assert WebhookEvent.objects.get().status == WebhookStatus.PROCESSED


# --- Storing and handling -----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_same_event_ten_times_credits_the_payment_once(audit_actions):
    bill, attempt = bill_attempt()
    body = stripe_event("payment_intent.succeeded", attempt)

    responses = [deliver(body) for _ in range(10)]

    assert [response.status_code for response in responses] == [200] * 10
    event = WebhookEvent.objects.get()
    assert (event.status, event.deliveries, event.attempt) == (
        WebhookStatus.PROCESSED,
        10,
        attempt,
    )
    assert (event.gateway, event.intent_id) == (Gateway.STRIPE, attempt.intent_id)
    assert [line.amount for line in cash_lines()] == [attempt.amount]
    bill.refresh_from_db()
    attempt.refresh_from_db()
    assert (bill.status, attempt.status) == (BillStatus.PAID, AttemptStatus.SUCCEEDED)
    assert audit_actions(action="payment.succeeded") == ["payment.succeeded"]
    assert BillingExport.objects.count() == 1
    assert_ledger_balances()


@pytest.mark.django_db
def test_a_payment_and_its_repeat_take_a_bounded_number_of_statements(
    settings, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    # Issue #15: everything a delivery costs, what runs on commit included, with the database
    # task queue as in production: the payment, its receipt's render task, the payer's notice
    # and its sending task, all in the payment's transaction (34 statements on PostgreSQL and
    # 35 on SQLite for this payment of an overdue bill before, 9 of them after the commit).
    # The year's first receipt creates its series' row, and the first audit record may rebuild
    # the chain head's: one payment first, so the measured one is like every later one.
    # One more since: the paid bill's account's bills_version, raised with the bill's refresh so
    # that the person's cached bill list and dashboard show the payment (portal/fragments.py).
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    _bill, first = bill_attempt()
    assert deliver(stripe_event("payment_intent.succeeded", first)).status_code == 200
    bill, attempt = bill_attempt()
    body = stripe_event("payment_intent.succeeded", attempt)

    with (
        django_assert_max_num_queries(30),
        django_capture_on_commit_callbacks(execute=True) as after_commit,
    ):
        assert deliver(body).status_code == 200
    assert after_commit == []  # nothing left for after the commit: the tasks are queued in it
    with django_assert_max_num_queries(4):
        assert deliver(body).status_code == 200

    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED
    assert [line.amount for line in cash_lines().filter(bill=bill)] == [attempt.amount]
    assert Notification.objects.filter(
        kind=NotificationKind.PAYMENT_RECEIVED, user=attempt.created_by
    ).exists()
    # Two payments: each one render and one notice queued, none run before its commit.
    assert sorted(DBTaskResult.objects.ready().values_list("task_path", flat=True)) == [
        "payments.tasks.receipt_render",
        "payments.tasks.receipt_render",
        "portal.tasks.notification_deliver",
        "portal.tasks.notification_deliver",
    ]


@pytest.mark.django_db
def test_the_notice_and_the_tasks_go_with_the_payment_when_it_rolls_back(settings):
    # Written in the payment's transaction (database queue): a payment rolled back after it
    # was applied (the webhook's own outcome failing to save, say) leaves no notice and no task.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    _bill, attempt = bill_attempt()
    state = gateways.IntentState(
        id=attempt.intent_id,
        status=gateways.SUCCEEDED,
        amount=yuan_to_fen(attempt.amount),
        currency=attempt.currency,
        attempt_uuid=str(attempt.uuid),
    )

    with pytest.raises(RuntimeError), transaction.atomic():
        fulfilment.intent_apply(state=state, source="test")
        assert Notification.objects.filter(user=attempt.created_by).exists()
        assert DBTaskResult.objects.count() == 2
        raise RuntimeError("after the payment, before the commit")

    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.PENDING
    assert not Notification.objects.exists()
    assert not DBTaskResult.objects.exists()


@pytest.mark.django_db
def test_the_payment_e_mail_leaves_only_after_the_commit_with_the_receipt(
    mailoutbox, django_capture_on_commit_callbacks
):
    # The in-process task backend (the embedded default) runs a task as it is enqueued: the
    # sending is therefore enqueued on commit, and nothing is sent while the payment is open.
    _bill, attempt = bill_attempt()

    with django_capture_on_commit_callbacks() as after_commit:
        assert deliver(stripe_event("payment_intent.succeeded", attempt)).status_code == 200
        assert mailoutbox == []
        assert Notification.objects.get(user=attempt.created_by).status == (
            NotificationStatus.QUEUED
        )
    assert len(after_commit) == 2  # the e-mail and the receipt's render
    for callback in after_commit:
        callback()

    [message] = mailoutbox
    assert message.to == [attempt.created_by.email]
    assert [name for name, _data, _type in message.attachments] == [
        attempt.receipts.get().number + ".pdf"
    ]
    assert Notification.objects.get(user=attempt.created_by).status == NotificationStatus.SENT


@pytest.mark.django_db
def test_a_declined_payment_fails_the_attempt_and_posts_nothing():
    _bill, attempt = bill_attempt()

    response = deliver(stripe_event("payment_intent.payment_failed", attempt))

    assert response.status_code == 200
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.FAILED
    assert attempt.failure_message == "Your card was declined."
    assert not cash_lines().exists()


@pytest.mark.django_db
def test_a_payment_we_do_not_know_is_kept_unmatched_and_answered_200():
    # A PaymentIntent made on the same Stripe account by something else, or for an attempt
    # that is not (yet) ours: Stripe must not keep retrying, reconciliation looks at it.
    _bill, attempt = bill_attempt()
    body = stripe_event(
        "payment_intent.succeeded",
        attempt,
        id="pi_not_ours",
        metadata={"attempt": str(uuid.uuid4())},
    )

    response = deliver(body)

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempt) == (WebhookStatus.UNMATCHED, None)
    assert event.intent_id == "pi_not_ours"
    assert not cash_lines().exists()
    # Nor does an intent with no attempt in its metadata at all.
    assert (
        deliver(stripe_event("payment_intent.succeeded", attempt, metadata={})).status_code == 200
    )
    assert WebhookEvent.objects.filter(status=WebhookStatus.UNMATCHED).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"amount": "frozen + 1"}, "amount "),
        ({"currency": "usd"}, "currency usd != cny"),
    ],
    ids=["amount", "currency"],
)
def test_an_amount_or_currency_that_differs_is_flagged_not_credited(change, reason, audit_actions):
    bill, attempt = bill_attempt()
    if change.get("amount") == "frozen + 1":
        change = {"amount": yuan_to_fen(attempt.amount) + 1}

    response = deliver(stripe_event("payment_intent.succeeded", attempt, **change))

    assert response.status_code == 200
    attempt.refresh_from_db()
    bill.refresh_from_db()
    assert reason in attempt.needs_review
    assert (attempt.status, bill.status) == (AttemptStatus.PENDING, BillStatus.OPEN)
    assert WebhookEvent.objects.get().status == WebhookStatus.FLAGGED
    assert not cash_lines().exists()
    assert audit_actions(action="payment.flagged") == ["payment.flagged"]
    assert audit_actions(action="payment.succeeded") == []


@pytest.mark.django_db
def test_an_intent_naming_another_attempt_is_flagged_not_credited(audit_actions):
    # Attempt A's PaymentIntent, but the metadata names attempt B (same amount): whichever is
    # wrong, neither bill may be marked paid by it.
    user = UserFactory()
    bill_a, attempt_a = bill_attempt(user)
    bill_b, attempt_b = bill_attempt(user)
    body = stripe_event(
        "payment_intent.succeeded", attempt_a, metadata={"attempt": str(attempt_b.uuid)}
    )

    assert deliver(body).status_code == 200

    attempt_a.refresh_from_db()
    attempt_b.refresh_from_db()
    assert f"payment {attempt_a.intent_id} != {attempt_b.intent_id}" in attempt_b.needs_review
    assert attempt_a.needs_review == ""
    assert {attempt_a.status, attempt_b.status} == {AttemptStatus.PENDING}
    for bill in (bill_a, bill_b):
        bill.refresh_from_db()
        assert bill.status == BillStatus.OPEN
    assert not cash_lines().exists()
    assert audit_actions(action="payment.flagged") == ["payment.flagged"]
    # B's own payment, when it comes, is credited (and stays marked for staff to look at).
    assert deliver(stripe_event("payment_intent.succeeded", attempt_b)).status_code == 200
    attempt_b.refresh_from_db()
    assert attempt_b.status == AttemptStatus.SUCCEEDED
    assert [line.amount for line in cash_lines()] == [attempt_b.amount]


@pytest.mark.django_db
def test_an_intent_naming_an_attempt_not_yet_begun_is_flagged_if_another_attempt_owns_it():
    user = UserFactory()
    _bill_a, attempt_a = bill_attempt(user)
    bill_c = BillFactory(account=BindingFactory(user=user).account)
    attempt_c = checkout.attempt_create(user=user, bill_uuids=[bill_c.uuid])  # no intent yet
    body = stripe_event(
        "payment_intent.succeeded",
        attempt_a,
        metadata={"attempt": str(attempt_c.uuid)},
        amount=yuan_to_fen(attempt_c.amount),
    )

    assert deliver(body).status_code == 200

    attempt_c.refresh_from_db()
    assert f"payment {attempt_a.intent_id} is another attempt's" in attempt_c.needs_review
    assert (attempt_c.status, attempt_c.intent_id) == (AttemptStatus.PENDING, None)
    assert WebhookEvent.objects.get().status == WebhookStatus.FLAGGED
    assert not cash_lines().exists()


@pytest.mark.django_db
def test_a_second_payment_naming_a_paid_attempt_is_flagged_not_dropped(audit_actions):
    # The attempt is paid; then money arrives on another PaymentIntent naming it. It is not a
    # repeat of the first event: staff must see it (and refund it), it must not vanish.
    _bill, attempt = bill_attempt()
    assert deliver(stripe_event("payment_intent.succeeded", attempt)).status_code == 200
    second = stripe_event("payment_intent.succeeded", attempt, id="pi_second_payment")

    assert deliver(second).status_code == 200

    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED
    assert f"payment pi_second_payment != {attempt.intent_id}" in attempt.needs_review
    assert WebhookEvent.objects.get(intent_id="pi_second_payment").status == WebhookStatus.FLAGGED
    assert [line.amount for line in cash_lines()] == [attempt.amount]
    assert audit_actions(action="payment.flagged") == ["payment.flagged"]


@pytest.mark.django_db
def test_a_payment_whose_id_we_never_stored_is_credited_under_that_id():
    # attempt_begin got the PaymentIntent from Stripe but crashed before storing its id; the
    # customer paid it anyway (or Stripe answered a retry). The event carries our UUID.
    user = UserFactory()
    bill = BillFactory(account=BindingFactory(user=user).account)
    attempt = checkout.attempt_create(user=user, bill_uuids=[bill.uuid])
    assert attempt.intent_id is None

    body = stripe_event("payment_intent.succeeded", attempt, id="pi_stored_too_late")
    assert deliver(body).status_code == 200

    attempt.refresh_from_db()
    assert (attempt.status, attempt.intent_id) == (AttemptStatus.SUCCEEDED, "pi_stored_too_late")
    export = BillingExport.objects.get()
    assert export.payload["provider_payment_id"] == "pi_stored_too_late"
    assert [line.amount for line in cash_lines()] == [attempt.amount]


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["customer.created", "charge.refunded"])
def test_an_event_type_we_do_not_handle_is_kept_as_ignored(name):
    body = stripe_event(name)

    response = deliver(body)

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.type, event.status) == (name, WebhookStatus.IGNORED)
    assert event.payload == json.loads(body)
    assert not cash_lines().exists()


@pytest.mark.django_db
def test_a_failure_while_handling_rolls_back_answers_500_and_a_redelivery_credits(audit_actions):
    bill, attempt = bill_attempt()
    body = stripe_event("payment_intent.succeeded", attempt)
    # The fault: the database refuses the last write of fulfilment (the billing system's copy of
    # the payment, after the ledger, the attempt and the audit row are written). A trigger works
    # the same on SQLite and PostgreSQL and goes away with the test's transaction.
    table = connection.ops.quote_name(BillingExport._meta.db_table)
    refuse = {
        "sqlite": f"CREATE TRIGGER refuse_export BEFORE INSERT ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'export table refuses writes'); END",
        "postgresql": "CREATE FUNCTION refuse_export() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'export table refuses writes'; END $$ LANGUAGE plpgsql; "
        f"CREATE TRIGGER refuse_export BEFORE INSERT ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION refuse_export()",
    }[connection.vendor]
    with connection.cursor() as cursor:
        cursor.execute(refuse)

    failed = deliver(body)

    assert failed.status_code == 500
    event = WebhookEvent.objects.get()
    assert event.status == WebhookStatus.FAILED
    assert "Traceback" in event.error and "export table refuses writes" in event.error
    # Everything the handler wrote before the refusal was rolled back with it.
    attempt.refresh_from_db()
    bill.refresh_from_db()
    assert (attempt.status, bill.status) == (AttemptStatus.PENDING, BillStatus.OPEN)
    assert not cash_lines().exists()
    assert not attempt.items.filter(entry__isnull=False).exists()
    assert audit_actions(action="payment.succeeded") == []

    # The fault is fixed; Stripe delivers the event again.
    with connection.cursor() as cursor:
        cursor.execute(
            {"sqlite": "DROP TRIGGER refuse_export"}.get(
                connection.vendor, f"DROP TRIGGER refuse_export ON {table}"
            )
        )
    again = deliver(body)

    assert again.status_code == 200
    event.refresh_from_db()
    assert (event.status, event.deliveries, event.error) == (WebhookStatus.PROCESSED, 2, "")
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED
    assert [line.amount for line in cash_lines()] == [attempt.amount]
    assert audit_actions(action="payment.succeeded") == ["payment.succeeded"]
    assert_ledger_balances()


# --- Races (PostgreSQL) -------------------------------------------------------------------------


@POSTGRESQL_ONLY
@pytest.mark.django_db(transaction=True)
def test_two_deliveries_of_the_same_event_at_once_credit_once(audit_actions):
    bill, attempt = bill_attempt()
    body = stripe_event("payment_intent.succeeded", attempt)
    signature = sign(body)
    start = threading.Barrier(2)
    statuses = []

    @close_connection_after
    def provider():
        client = Client()
        start.wait()
        statuses.append(deliver(body, signature, client=client).status_code)

    threads = [threading.Thread(target=provider) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200, 200]
    event = WebhookEvent.objects.get()
    assert (event.status, event.deliveries) == (WebhookStatus.PROCESSED, 2)
    assert [line.amount for line in cash_lines()] == [attempt.amount]
    bill.refresh_from_db()
    assert bill.status == BillStatus.PAID
    assert audit_actions(action="payment.succeeded") == ["payment.succeeded"]
    assert_ledger_balances()


@POSTGRESQL_ONLY
@pytest.mark.django_db(transaction=True)
def test_the_return_page_and_the_webhook_racing_credit_once(audit_actions):
    rounds = 5
    for _ in range(rounds):
        _bill, attempt = bill_attempt()
        body, signature = gateways.local_outcome(attempt, "succeed")  # the money is taken
        start = threading.Barrier(2)
        results = {}

        @close_connection_after
        def return_page(attempt=attempt, start=start, results=results):
            state = gateways.intent_retrieve(attempt)
            start.wait()
            results["page"] = fulfilment.intent_apply(state=state, source="return")

        @close_connection_after
        def webhook(body=body, signature=signature, start=start, results=results):
            client = Client()
            start.wait()
            results["hook"] = deliver(body, signature, client=client).status_code

        threads = [threading.Thread(target=return_page), threading.Thread(target=webhook)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert results["hook"] == 200
        assert results["page"].status == WebhookStatus.PROCESSED
        attempt.refresh_from_db()
        assert attempt.status == AttemptStatus.SUCCEEDED
        assert WebhookEvent.objects.get(intent_id=attempt.intent_id).attempt == attempt

    # One credit per payment, whoever came first.
    amounts = sorted(PaymentAttempt.objects.values_list("amount", flat=True))
    assert sorted(line.amount for line in cash_lines()) == amounts
    assert len(audit_actions(action="payment.succeeded")) == rounds
    assert BillingExport.objects.count() == rounds
    assert_ledger_balances()


@POSTGRESQL_ONLY
@pytest.mark.django_db(transaction=True)
def test_a_success_before_our_attempt_is_committed_is_kept_then_credited(audit_actions):
    user = UserFactory()
    bill = BillFactory(account=BindingFactory(user=user).account)
    sent = threading.Event()
    handled = threading.Event()
    made = {}

    @close_connection_after
    def checkout_request():
        # Our side is slow to commit: the attempt, its payment and the customer paying all
        # happen inside one open transaction, and the provider's event overtakes the commit.
        with transaction.atomic():
            attempt = checkout.attempt_create(user=user, bill_uuids=[bill.uuid])
            attempt = checkout.attempt_begin(attempt=attempt)
            made["attempt"] = attempt
            made["event"] = gateways.local_outcome(attempt, "succeed")
            sent.set()
            assert handled.wait(timeout=30)

    payer = threading.Thread(target=checkout_request)
    payer.start()
    try:
        assert sent.wait(timeout=30)
        body, signature = made["event"]
        response = deliver(body, signature)
    finally:
        handled.set()
        payer.join()

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempt) == (WebhookStatus.UNMATCHED, None)
    assert not cash_lines().exists()

    # Now committed: reconciliation hands the stored event to the same handler.
    answer = webhook_handle(event)

    assert answer.status == 200
    event.refresh_from_db()
    attempt = made["attempt"]
    attempt.refresh_from_db()
    bill.refresh_from_db()
    assert (event.status, event.attempt) == (WebhookStatus.PROCESSED, attempt)
    assert (attempt.status, bill.status) == (AttemptStatus.SUCCEEDED, BillStatus.PAID)
    assert [line.amount for line in cash_lines()] == [attempt.amount]
    assert audit_actions(action="payment.succeeded") == ["payment.succeeded"]


# --- localstripe: its own signed webhooks, and one that never comes -----------------------------

WEBHOOK_ID = "powerhall-tests"
NOWHERE = "http://127.0.0.1:9/"  # the discard port: nothing listens, delivery fails at once


def localstripe_webhook(localstripe_url: str, url: str, secret: str) -> None:
    """Point localstripe's (only, global) webhook registration of these tests at ``url``."""
    response = requests.post(
        f"{localstripe_url}/_config/webhooks/{WEBHOOK_ID}",
        data={"url": url, "secret": secret},
        timeout=10,
    )
    response.raise_for_status()


@pytest.fixture
def webhooks_to_live_server(stripe_settings, live_server):
    """localstripe signs its events with our secret and sends them to the live server's endpoint
    (an in-process thread: it sees these settings). Registrations outlive a test at localstripe,
    so it points nowhere again afterwards."""
    base = stripe_settings.STRIPE_API_BASE
    localstripe_webhook(base, live_server.url + URL, stripe_settings.STRIPE_WEBHOOK_SECRET)
    yield
    localstripe_webhook(base, NOWHERE, "whsec_nobody")


def stripe_attempt():
    """A customer's bill and its attempt begun at localstripe (gateway stripe: the secret key is
    set), the PaymentIntent waiting for the Payment Element."""
    user = UserFactory()
    bill = BillFactory(account=BindingFactory(user=user).account)
    attempt = checkout.attempt_create(user=user, bill_uuids=[bill.uuid])
    assert attempt.gateway == Gateway.STRIPE
    return bill, checkout.attempt_begin(attempt=attempt)


def confirm_at_stripe(attempt, payment_method: str):
    """What the customer's browser does with the Payment Element, done server-side: localstripe
    takes the payment method by update (its confirm refuses one) and then confirms."""
    intents = stripe_api.stripe_client().v1.payment_intents
    intents.update(attempt.intent_id, params={"payment_method": payment_method})
    return intents.confirm(attempt.intent_id)


def handled_event(attempt, event_type: str, seconds: int = 10) -> WebhookEvent:
    """localstripe's ``event_type`` event about the attempt's payment, once our endpoint has
    finished with it (its row is the handler's last write: on SQLite the live server shares the
    test's connection, so an earlier write can be seen before the handler commits)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        event = WebhookEvent.objects.filter(type=event_type, intent_id=attempt.intent_id).first()
        if event is not None and event.status != WebhookStatus.RECEIVED:
            attempt.refresh_from_db()
            return event
        time.sleep(0.1)
    raise AssertionError(f"no {event_type} handled for {attempt.intent_id} after {seconds} s")


@pytest.mark.django_db(transaction=True)
def test_localstripes_signed_webhook_credits_a_card_payment(webhooks_to_live_server):
    bill, attempt = stripe_attempt()

    intent = confirm_at_stripe(attempt, "pm_card_visa")
    assert intent.status == "succeeded"

    event = handled_event(attempt, "payment_intent.succeeded")
    assert attempt.status == AttemptStatus.SUCCEEDED
    bill.refresh_from_db()
    assert bill.status == BillStatus.PAID
    assert (event.status, event.gateway, event.attempt) == (
        WebhookStatus.PROCESSED,
        Gateway.STRIPE,
        attempt,
    )
    assert event.payload["data"]["object"]["metadata"] == {"attempt": str(attempt.uuid)}
    assert [line.amount for line in cash_lines()] == [attempt.amount]
    assert_ledger_balances()
    after_commit_work_done(attempt)


def after_commit_work_done(attempt, seconds: int = 20) -> None:
    """Wait for what the live server does after the payment commits (the receipt's render, the
    e-mail), so the test's teardown does not empty the database under it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rendered = attempt.receipts.filter(rendered_at__isnull=False).exists()
        pending = Notification.objects.filter(
            user=attempt.created_by, status=NotificationStatus.QUEUED
        ).exists()
        if rendered and not pending:
            return
        time.sleep(0.1)
    raise AssertionError(f"the work after {attempt.reference} committed did not finish")


@pytest.mark.django_db(transaction=True)
def test_localstripes_payment_failed_webhook_fails_a_declined_card(webhooks_to_live_server):
    bill, attempt = stripe_attempt()

    with pytest.raises(stripe.CardError):
        confirm_at_stripe(attempt, "pm_card_chargeCustomerFail")

    event = handled_event(attempt, "payment_intent.payment_failed")
    assert event.status == WebhookStatus.PROCESSED
    assert attempt.status == AttemptStatus.FAILED
    assert attempt.failure_message == "Your card was declined."
    bill.refresh_from_db()
    assert bill.status == BillStatus.OPEN
    assert not cash_lines().exists()


@pytest.mark.django_db
def test_money_taken_but_never_reported_is_credited_by_reconciliation(
    stripe_settings, audit_actions
):
    # The crash: Stripe took the money and we never heard (no webhook reaches us: localstripe's
    # registration points nowhere), so nothing of ours was written.
    localstripe_webhook(stripe_settings.STRIPE_API_BASE, NOWHERE, "whsec_nobody")
    bill, attempt = stripe_attempt()
    assert confirm_at_stripe(attempt, "pm_card_visa").status == "succeeded"
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.PENDING
    assert not cash_lines().exists()

    # The scheduled reconciliation asks Stripe about the attempt and runs the one fulfilment
    # path (payments/reconcile.py).
    report = reconcile_payments(since=attempt.business_date)

    assert attempt.intent_id in report.repaired[attempt.reference]
    attempt.refresh_from_db()
    bill.refresh_from_db()
    assert (attempt.status, bill.status) == (AttemptStatus.SUCCEEDED, BillStatus.PAID)
    assert [line.amount for line in cash_lines()] == [attempt.amount]
    assert audit_actions(action="payment.succeeded") == ["payment.succeeded"]
    succeeded = AuditEvent.objects.get(action="payment.succeeded")
    assert json.loads(succeeded.data)["source"] == "reconcile"
    # A second run finds nothing left to do for it.
    again = reconcile_payments(since=attempt.business_date)
    assert attempt.reference not in again.repaired
    assert attempt.reference not in again.needs_person
    assert cash_lines().count() == 1
    assert_ledger_balances()
