"""Reconciliation, `manage.py reconcile_payments` (payments/reconcile.py; docs/payments.md): a
payment the gateway took and we did not credit is credited within one run, through the same
fulfilment as the webhook; unpaid attempts expire; what we cannot repair is listed for a person;
a period with nothing wrong reports nothing to fix; one bad row is skipped, kept for a person
and counted, and the rest of the run is still done (portal/core/jobs.py).

The Stripe tests use the real SDK against a localstripe of this module's own, where no webhook
receiver is registered: the payments they confirm never reach our webhook, as after a crash, and
reconciliation alone must find them. Runs on SQLite and on PostgreSQL.
"""

import io
import json
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import requests
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import translation

from payments import checkout, gateways
from payments.gateways import stripe_api
from payments.models import (
    AttemptStatus,
    BillStatus,
    Book,
    LedgerLine,
    LocalIntent,
    PaymentAttempt,
    WebhookEvent,
    WebhookStatus,
)
from payments.reconcile import reconcile_payments
from payments.webhooks import webhook_receive
from portal.core import clock
from portal.core.jobs import ExitStatus
from portal.models import AuditEvent, JobProblem
from tests.factories import UserFactory
from tests.payments.conftest import localstripe_server
from tests.payments.test_checkout import local_pay, own_bill
from tests.payments.test_ledger import assert_ledger_balances
from tests.payments.test_payment_concurrency import in_threads
from tests.poison import MESSAGE, refuse_changes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture(scope="module")
def localstripe_url():
    """A localstripe for this module alone (it overrides the session's). Reconciliation lists
    every payment at the provider: other tests' payments, and webhook receivers other tests
    register, must not be in its view. Started on 127.0.0.1 and stopped at the module's end."""
    with localstripe_server() as url:
        yield url


@pytest.fixture
def own_stripe(stripe_settings, localstripe_url):
    """Stripe configured, its (private) localstripe emptied: only this test's payments."""
    requests.delete(f"{localstripe_url}/_config/data", timeout=5).raise_for_status()
    return stripe_settings


@pytest.fixture
def customer():
    return UserFactory()


def begun(customer, **bill_kwargs):
    """A customer's attempt to pay one of their bills, its gateway payment created."""
    bill = own_bill(customer, **bill_kwargs)
    attempt = checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])
    return checkout.attempt_begin(attempt=attempt), bill


def stripe_confirm(intent_id: str):
    """The customer's card payment, confirmed at Stripe, whose news never reaches us.
    (localstripe refuses ``confirm`` with a payment method, so it is attached first.)"""
    client = stripe_api.stripe_client()
    client.v1.payment_intents.update(intent_id, params={"payment_method": "pm_card_visa"})
    return client.v1.payment_intents.confirm(intent_id)


def audit_data(action: str) -> dict:
    return json.loads(AuditEvent.objects.get(action=action).data)


def reconciled_records() -> int:
    return AuditEvent.objects.filter(action="payments.reconciled").count()


def run_command(*args) -> tuple[str, int]:
    """The command's report and exit status; the last line of a non-zero exit (which Django
    prints on stderr) is added to the report."""
    out = io.StringIO()
    try:
        call_command("reconcile_payments", *args, stdout=out)
    except CommandError as error:
        return out.getvalue() + str(error), error.returncode
    return out.getvalue(), 0


# --- Stripe ---------------------------------------------------------------------------------------


def test_a_payment_stripe_took_but_we_never_heard_of_is_credited_in_one_run(
    own_stripe, customer, audit_actions
):
    attempt, bill = begun(customer)
    assert stripe_confirm(attempt.intent_id).status == "succeeded"
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.PENDING  # the crash: Stripe has the money, we don't

    report = reconcile_payments(since=None)

    attempt.refresh_from_db()
    bill.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED
    assert bill.status == BillStatus.PAID
    assert list(report.repaired) == [attempt.reference]
    assert "credited now" in report.repaired[attempt.reference]
    assert report.needs_person == {}
    cash = LedgerLine.objects.filter(book=Book.CASH, entry__reference=attempt.reference)
    assert [line.amount for line in cash] == [attempt.amount]
    assert_ledger_balances()
    assert audit_data("payment.succeeded")["source"] == "reconcile"
    assert audit_actions(action="payments.reconciled") == ["payments.reconciled"]
    assert audit_data("payments.reconciled")["counts"]["repaired"] == 1

    again = reconcile_payments(since=None)

    assert again.nothing_to_fix and not again.changed
    assert again.checked["succeeded"] == 1  # compared with Stripe, and it agrees
    assert again.checked["provider"] == 1
    assert LedgerLine.objects.filter(book=Book.CASH).count() == 1
    assert reconciled_records() == 1  # a run that changed nothing leaves no record


def test_a_payment_made_before_we_stored_its_id_is_found_at_stripe_and_credited(
    own_stripe, customer
):
    bill = own_bill(customer)
    attempt = checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])
    # Stripe made and charged the payment; we crashed before storing its id on the attempt.
    intent = stripe_api.payment_intent_create(
        attempt_uuid=attempt.uuid,
        amount=attempt.amount,
        idempotency_key=attempt.idempotency_key,
        payment_method="pm_card_visa",
        confirm=True,
    )

    report = reconcile_payments(since=None)

    attempt.refresh_from_db()
    bill.refresh_from_db()
    assert (attempt.status, attempt.intent_id) == (AttemptStatus.SUCCEEDED, intent.id)
    assert bill.status == BillStatus.PAID
    assert list(report.repaired) == [attempt.reference]
    assert report.needs_person == {}
    assert reconcile_payments(since=None).nothing_to_fix


def test_an_attempt_unpaid_at_the_end_of_its_day_expires_and_its_payment_is_cancelled(
    own_stripe, customer
):
    attempt, _bill = begun(customer)

    with time_machine.travel(attempt.expires_at + timedelta(minutes=5)):
        report = reconcile_payments(since=None)

    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.EXPIRED
    assert stripe_api.payment_intent_retrieve(attempt.intent_id).status == "canceled"
    assert list(report.expired) == [attempt.reference]
    assert report.nothing_to_fix  # expiring is routine, not a repair
    assert not LedgerLine.objects.filter(book=Book.CASH).exists()
    assert reconciled_records() == 1


def test_money_that_came_in_for_an_attempt_past_its_day_is_credited_not_cancelled(
    own_stripe, customer
):
    attempt, bill = begun(customer)
    stripe_confirm(attempt.intent_id)

    with time_machine.travel(attempt.expires_at + timedelta(hours=1)):
        report = reconcile_payments(since=None)

    attempt.refresh_from_db()
    bill.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED
    assert bill.status == BillStatus.PAID
    assert bill.settled_on == attempt.business_date  # the day it was priced for
    assert list(report.repaired) == [attempt.reference]
    assert report.expired == {}


def test_money_at_stripe_for_no_attempt_of_ours_needs_a_person(own_stripe):
    stranger = uuid.uuid4()
    intent = stripe_api.payment_intent_create(
        attempt_uuid=stranger,
        amount=Decimal("88.00"),
        idempotency_key=f"attempt-{stranger}",
        payment_method="pm_card_visa",
        confirm=True,
    )

    report = reconcile_payments(since=None)

    assert list(report.needs_person) == [intent.id]
    assert "88.00 CNY taken" in report.needs_person[intent.id]
    assert str(stranger) in report.needs_person[intent.id]
    assert not report.changed
    assert not LedgerLine.objects.exists()


# --- The local test gateway -------------------------------------------------------------------


def test_a_local_payment_whose_event_was_never_delivered_is_credited(customer):
    attempt, bill = begun(customer)
    # The test gateway settles the payment; its event is lost on the way.
    gateways.local_outcome(attempt, "succeed")

    report = reconcile_payments(since=None)

    attempt.refresh_from_db()
    bill.refresh_from_db()
    assert (attempt.status, bill.status) == (AttemptStatus.SUCCEEDED, BillStatus.PAID)
    assert list(report.repaired) == [attempt.reference]
    assert not WebhookEvent.objects.exists()
    assert_ledger_balances()


def test_an_event_that_came_before_its_attempt_is_credited_when_handled_again(customer):
    attempt, _bill = begun(customer)
    payload, signature = gateways.local_outcome(attempt, "succeed")
    # The event arrives while the attempt is not visible yet (not committed): it is kept.
    real_uuid = attempt.uuid
    type(attempt).objects.filter(pk=attempt.pk).update(uuid=uuid.uuid4())
    webhook_receive(payload, signature, gateway="local")
    type(attempt).objects.filter(pk=attempt.pk).update(uuid=real_uuid)
    event = WebhookEvent.objects.get()
    assert event.status == WebhookStatus.UNMATCHED

    report = reconcile_payments(since=None)

    event.refresh_from_db()
    attempt.refresh_from_db()
    assert event.status == WebhookStatus.PROCESSED
    assert event.attempt == attempt
    assert attempt.status == AttemptStatus.SUCCEEDED
    assert event.event_id in report.repaired[attempt.reference]
    assert report.needs_person == {}
    assert LedgerLine.objects.filter(book=Book.CASH).count() == 1


def test_an_event_for_money_no_attempt_accounts_for_needs_a_person():
    state = gateways.IntentState(
        id="pi_local_nobody",
        status=gateways.SUCCEEDED,
        amount=5000,
        currency="cny",
        attempt_uuid=str(uuid.uuid4()),
    )
    webhook_receive(*gateways.local_event(state, "payment_intent.succeeded"), gateway="local")

    report = reconcile_payments(since=None)

    assert list(report.needs_person) == ["pi_local_nobody"]
    assert "50.00 CNY taken" in report.needs_person["pi_local_nobody"]
    assert WebhookEvent.objects.get().status == WebhookStatus.UNMATCHED


def test_a_payment_the_gateway_records_differently_needs_a_person(customer):
    attempt, _bill = begun(customer)
    local_pay(attempt)
    # Afterwards the gateway's record says one yuan was taken.
    LocalIntent.objects.filter(intent_id=attempt.intent_id).update(amount=100)

    report = reconcile_payments(since=None)

    line = report.needs_person[attempt.reference]
    assert f"credited {attempt.amount} CNY" in line
    assert "the gateway says 1.00 CNY" in line
    assert not report.changed
    assert LedgerLine.objects.filter(book=Book.CASH).count() == 1  # nothing touched


def test_a_flagged_payment_is_listed_for_a_person_and_not_expired(customer):
    attempt, _bill = begun(customer)
    LocalIntent.objects.filter(intent_id=attempt.intent_id).update(amount=100, status="succeeded")
    reconcile_payments(since=None)  # flags it: one yuan is not what was frozen
    attempt.refresh_from_db()
    assert "amount 1.00" in attempt.needs_review

    with time_machine.travel(attempt.expires_at + timedelta(minutes=1)):
        report = reconcile_payments(since=None)

    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.PENDING  # a person decides, not the clock
    assert "amount 1.00" in report.needs_person[attempt.reference]
    assert not LedgerLine.objects.filter(book=Book.CASH).exists()


def test_a_period_with_nothing_wrong_reports_nothing_to_fix(customer):
    paid, _bill = begun(customer)
    local_pay(paid)
    waiting, _other = begun(customer, due_date=date(2026, 12, 20))

    report = reconcile_payments(since=None)

    assert report.nothing_to_fix and not report.changed
    assert (report.checked["succeeded"], report.checked["open"]) == (1, 1)
    waiting.refresh_from_db()
    assert waiting.status == AttemptStatus.PENDING
    assert reconciled_records() == 0


def test_since_limits_the_period(customer):
    with time_machine.travel(datetime(2026, 11, 20, 10, tzinfo=clock.BUSINESS_TIME_ZONE)):
        attempt, _bill = begun(customer)
        gateways.local_outcome(attempt, "succeed")

        assert reconcile_payments(since=date(2026, 11, 21)).repaired == {}
        assert list(reconcile_payments(since=date(2026, 11, 20)).repaired) == [attempt.reference]


# --- The command ----------------------------------------------------------------------------------


def test_the_command_reports_a_repair_and_exits_0(customer):
    attempt, _bill = begun(customer)
    gateways.local_outcome(attempt, "succeed")

    output, status = run_command()

    assert status == 0
    assert "Repaired: 1" in output
    assert f"{attempt.reference}: {attempt.amount} CNY taken by the gateway" in output
    assert "Needs a person: 0" in output
    assert "1 unsettled payments asked at the gateway" in output

    output, status = run_command()
    assert status == 0
    assert "Repaired: 0" in output
    assert "Nothing to fix." in output


def test_the_command_exits_3_when_something_needs_a_person(customer):
    attempt, _bill = begun(customer)
    local_pay(attempt)
    LocalIntent.objects.filter(intent_id=attempt.intent_id).update(amount=100)

    output, status = run_command("--since", attempt.business_date.isoformat())

    assert status == ExitStatus.NEEDS_PERSON == 3
    assert "Done; 1 item(s) need a person." in output
    assert "Needs a person: 1" in output
    assert attempt.reference in output
    assert f"since {attempt.business_date.isoformat()}" in output


def test_the_command_refuses_a_date_it_cannot_read():
    _output, status = run_command("--since", "27/11/2026")
    assert status == 2


# --- One bad row never stops the run --------------------------------------------------------------


def unknown_money_event(intent_id: str) -> WebhookEvent:
    """A stored event for money no attempt of ours accounts for (kept unmatched)."""
    state = gateways.IntentState(
        id=intent_id,
        status=gateways.SUCCEEDED,
        amount=5000,
        currency="cny",
        attempt_uuid=str(uuid.uuid4()),
    )
    webhook_receive(*gateways.local_event(state, "payment_intent.succeeded"), gateway="local")
    return WebhookEvent.objects.get(intent_id=intent_id)


def test_a_poisoned_event_and_a_poisoned_attempt_are_skipped_and_the_rest_is_done(customer):
    # A payment the gateway took whose event was lost: credited by asking the gateway.
    paid, paid_bill = begun(customer)
    gateways.local_outcome(paid, "succeed")
    # An event that came before its attempt: credited when handled again.
    early, early_bill = begun(customer)
    payload, signature = gateways.local_outcome(early, "succeed")
    real_uuid = early.uuid
    PaymentAttempt.objects.filter(pk=early.pk).update(uuid=uuid.uuid4())
    webhook_receive(payload, signature, gateway="local")
    PaymentAttempt.objects.filter(pk=early.pk).update(uuid=real_uuid)
    # Two attempts nobody paid, to expire at the end of their day.
    stale, _bill = begun(customer)
    stuck, _other = begun(customer)
    # The poison: a stored event and an attempt whose rows the database refuses to change.
    bad_event = unknown_money_event("pi_local_poisoned")
    refuse_changes(WebhookEvent, bad_event.pk)
    refuse_changes(PaymentAttempt, stuck.pk)

    with time_machine.travel(stale.expires_at + timedelta(minutes=5)):
        output, status = run_command()

    for attempt in (paid, early, stale, stuck):
        attempt.refresh_from_db()
    paid_bill.refresh_from_db()
    early_bill.refresh_from_db()
    assert (paid.status, paid_bill.status) == (AttemptStatus.SUCCEEDED, BillStatus.PAID)
    assert (early.status, early_bill.status) == (AttemptStatus.SUCCEEDED, BillStatus.PAID)
    assert stale.status == AttemptStatus.EXPIRED
    assert stuck.status == AttemptStatus.PENDING  # its row could not be changed
    assert_ledger_balances()

    assert status == ExitStatus.NEEDS_PERSON == 3
    assert "Repaired: 2" in output and "Expired: 1" in output
    assert "Skipped on an error: 2" in output
    assert f"events: payments.webhookevent:{bad_event.pk}: " in output
    assert f"expire: payments.paymentattempt:{stuck.pk}: " in output
    assert "Done with 2 skipped." in output
    problems = {(p.job, p.step, p.row): p for p in JobProblem.objects.all()}
    assert set(problems) == {
        ("reconcile_payments", "events", f"payments.webhookevent:{bad_event.pk}"),
        ("reconcile_payments", "expire", f"payments.paymentattempt:{stuck.pk}"),
    }
    assert all(MESSAGE in problem.error and problem.count == 1 for problem in problems.values())
    assert audit_data("payments.reconciled")["counts"]["skipped"] == 2

    # The next run meets the same rows: still two records, each counted twice.
    with time_machine.travel(stale.expires_at + timedelta(minutes=20)):
        output, status = run_command()

    assert status == 3
    assert "Done with 2 skipped." in output
    assert sorted(JobProblem.objects.values_list("count", flat=True)) == [2, 2]


def test_an_event_stored_with_a_shape_we_cannot_use_no_longer_stops_the_run(customer):
    """Issue 20: an event whose ``data`` is a list, stored by an earlier version, stopped the
    first step with a traceback and exit status 1, and nothing after it ran."""
    WebhookEvent.objects.create(
        event_id="evt_bad_shape",
        type="payment_intent.succeeded",
        gateway="local",
        payload={"id": "evt_bad_shape", "type": "payment_intent.succeeded", "data": []},
        status=WebhookStatus.FAILED,
    )
    attempt, bill = begun(customer)
    gateways.local_outcome(attempt, "succeed")

    output, status = run_command()

    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED  # the later steps ran
    assert status in (ExitStatus.DONE, ExitStatus.NEEDS_PERSON)
    assert f"{attempt.reference}: {attempt.amount} CNY taken by the gateway" in output


def test_a_gateway_that_does_not_answer_is_could_not_run_naming_the_steps(
    own_stripe, customer, settings
):
    attempt, _bill = begun(customer)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there

    output, status = run_command()

    assert status == ExitStatus.COULD_NOT_RUN == 2
    assert "Not done: asking the gateway about unsettled payments (the gateway did not" in output
    assert "Not done: listing the payments at Stripe (the gateway did not answer" in output
    assert "Could not run: asking the gateway about unsettled payments" in output
    assert not JobProblem.objects.exists()  # the gateway's fault, not a row's
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.PENDING


@pytest.mark.skipif(connection.vendor != "postgresql", reason="real row locks: PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_credit_each_payment_once_and_keep_one_problem(customer):
    paid = []
    for _n in range(4):
        attempt, _bill = begun(customer)
        gateways.local_outcome(attempt, "succeed")
        paid.append(attempt)
    stuck, _bill = begun(customer)
    remove = refuse_changes(PaymentAttempt, stuck.pk)
    try:
        with time_machine.travel(stuck.expires_at + timedelta(minutes=5)):
            reports = in_threads(2, lambda _i: reconcile_payments(since=None))
    finally:
        remove()

    assert {
        attempt.status for attempt in PaymentAttempt.objects.filter(pk__in=[a.pk for a in paid])
    } == {AttemptStatus.SUCCEEDED}
    assert LedgerLine.objects.filter(book=Book.CASH).count() == 4  # each credited once
    assert_ledger_balances()
    assert sorted(len(report.repaired) for report in reports) in ([0, 4], [1, 3], [2, 2])
    # The stuck attempt fails in each run's expiry; a run may also meet it in its first steps,
    # once the other run has cancelled its payment. One record per step, counting every meeting.
    skipped = [item for report in reports for item in report.run.skipped]
    assert {item.row for item in skipped} == {f"payments.paymentattempt:{stuck.pk}"}
    problems = {problem.step: problem.count for problem in JobProblem.objects.all()}
    assert problems["expire"] == 2
    assert sum(problems.values()) == len(skipped)
