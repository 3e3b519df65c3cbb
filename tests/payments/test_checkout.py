"""Paying online, end to end through the local test gateway: the amount frozen in an attempt,
the signed event to the webhook code, the ledger, the audit record and the billing export.

Runs on SQLite and on PostgreSQL. Concurrency: tests/payments/test_payment_concurrency.py.
"""

from datetime import date, datetime
from decimal import Decimal

import pytest
import time_machine

from payments import checkout, gateways
from payments.ledger import account_credit
from payments.models import (
    AttemptStatus,
    BillingExport,
    BillStatus,
    Book,
    EntryKind,
    ExportKind,
    LedgerEntry,
    LedgerLine,
    ReconnectionRequest,
    WebhookEvent,
    WebhookStatus,
)
from payments.selectors import owed_today
from payments.webhooks import webhook_receive
from portal.core import clock
from portal.core.errors import InvalidInput
from portal.models import AccountStatus
from tests.factories import (
    BillFactory,
    BindingFactory,
    MemberScopeFactory,
    MembershipFactory,
    OrgBindingFactory,
    UserFactory,
    pay,
)
from tests.payments.test_ledger import assert_ledger_balances

pytestmark = pytest.mark.django_db
D = Decimal


def local_pay(attempt, outcome="succeed"):
    """Press a button on the local test gateway: the event goes to the webhook code."""
    attempt = checkout.attempt_begin(attempt=attempt)
    payload, signature = gateways.local_outcome(attempt, outcome)
    answer = webhook_receive(payload, signature, gateway="local")
    attempt.refresh_from_db()
    return answer, payload, signature


@pytest.fixture
def customer():
    return UserFactory()


def own_bill(user, **kwargs):
    binding = BindingFactory(user=user)
    return BillFactory(account=binding.account, **kwargs)


def test_paying_two_overdue_bills_of_two_accounts_posts_what_was_frozen(customer, audit_actions):
    first = own_bill(customer, amount=D("110.00"))
    second = own_bill(customer, amount=D("250.50"), due_date=date(2026, 11, 20))
    owed = owed_today(bills=[first, second])
    assert owed[first.pk].penalty_due > 0  # overdue since 2026-10-20

    attempt = checkout.attempt_create(user=customer, bill_uuids=[first.uuid, second.uuid])

    assert attempt.amount == owed[first.pk].total + owed[second.pk].total
    assert [(item.bill_id, item.principal, item.penalty) for item in attempt.items.all()] == [
        (first.pk, D("110.00"), owed[first.pk].penalty_due),
        (second.pk, D("250.50"), owed[second.pk].penalty_due),
    ]
    answer, _payload, _signature = local_pay(attempt)

    assert answer.status == 200
    assert attempt.status == AttemptStatus.SUCCEEDED
    for bill in (first, second):
        bill.refresh_from_db()
        assert bill.status == BillStatus.PAID
        assert account_credit(account_id=bill.account_id) == 0
    cash = LedgerLine.objects.filter(book=Book.CASH, entry__reference=attempt.reference)
    assert sum(line.amount for line in cash) == attempt.amount
    assert {line.entry.channel for line in cash} == {"portal"}
    assert_ledger_balances()
    assert audit_actions(action="payment.succeeded") == ["payment.succeeded"]
    export = BillingExport.objects.get(kind=ExportKind.PAYMENT)
    assert export.payload["amount"] == f"{attempt.amount:.2f}"
    assert [b["bill_number"] for b in export.payload["bills"]] == [first.number, second.number]


def test_the_same_event_ten_times_credits_once(customer):
    bill = own_bill(customer)
    attempt = checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])
    _answer, payload, signature = local_pay(attempt)

    answers = [webhook_receive(payload, signature, gateway="local") for _ in range(9)]

    assert {answer.status for answer in answers} == {200}
    assert LedgerLine.objects.filter(book=Book.CASH).count() == 1
    event = WebhookEvent.objects.get()
    assert (event.status, event.deliveries) == (WebhookStatus.PROCESSED, 10)


def test_decline_then_succeed_the_same_day(customer):
    bill = own_bill(customer)
    attempt = checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])

    local_pay(attempt, "decline")
    assert attempt.status == AttemptStatus.FAILED
    assert "declined" in attempt.failure_message
    assert not LedgerLine.objects.filter(book=Book.CASH).exists()

    # The local gateway, like Stripe, lets the customer try another card on the same payment.
    gateways.LocalIntent.objects.filter(intent_id=attempt.intent_id).update(
        status=gateways.REQUIRES_PAYMENT_METHOD
    )
    local_pay(attempt, "succeed")
    assert attempt.status == AttemptStatus.SUCCEEDED


def test_an_amount_that_does_not_match_is_flagged_not_credited(customer, audit_actions):
    bill = own_bill(customer)
    attempt = checkout.attempt_begin(
        attempt=checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])
    )
    state = gateways.IntentState(
        id=attempt.intent_id,
        status=gateways.SUCCEEDED,
        amount=100,  # 1 yuan, not the frozen amount
        currency="cny",
        attempt_uuid=str(attempt.uuid),
    )
    payload, signature = gateways.local_event(state, "payment_intent.succeeded")

    answer = webhook_receive(payload, signature, gateway="local")

    attempt.refresh_from_db()
    assert answer.status == 200
    assert attempt.status != AttemptStatus.SUCCEEDED
    assert "amount 1.00" in attempt.needs_review
    assert not LedgerLine.objects.filter(book=Book.CASH).exists()
    assert audit_actions(action="payment.flagged") == ["payment.flagged"]


def test_priced_before_midnight_settled_after_it_is_honoured(customer):
    bill = own_bill(customer)
    with time_machine.travel(datetime(2026, 11, 27, 23, 59, tzinfo=clock.BUSINESS_TIME_ZONE)):
        attempt = checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])
        checkout.attempt_begin(attempt=attempt)
    with time_machine.travel(datetime(2026, 11, 28, 0, 5, tzinfo=clock.BUSINESS_TIME_ZONE)):
        local_pay(attempt)

    bill.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED
    assert bill.status == BillStatus.PAID  # no extra day of penalty left owing
    assert bill.settled_on == date(2026, 11, 27)
    assert account_credit(account_id=bill.account_id) == 0


def test_someone_elses_bill_cannot_be_paid(customer):
    other = own_bill(UserFactory())
    with pytest.raises(InvalidInput):
        checkout.attempt_create(user=customer, bill_uuids=[other.uuid])


def test_organisation_member_pays_with_the_pay_scope_only(customer):
    membership = MembershipFactory(user=customer, role="member")
    binding = OrgBindingFactory(organisation=membership.organisation)
    bill = BillFactory(account=binding.account)
    MemberScopeFactory(membership=membership, binding=binding, can_view=True)
    with pytest.raises(InvalidInput):
        checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])

    binding.member_scopes.update(can_pay=True)
    attempt = checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])
    assert attempt.organisation == membership.organisation


def test_clearing_the_arrears_of_a_suspended_account_requests_reconnection(customer):
    bill = own_bill(customer)
    bill.account.status = AccountStatus.SUSPENDED
    bill.account.save()
    attempt = checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])

    local_pay(attempt)

    request = ReconnectionRequest.objects.get()
    assert (request.account, request.attempt) == (bill.account, attempt)
    kinds = list(BillingExport.objects.values_list("kind", flat=True))
    assert kinds == [ExportKind.PAYMENT, ExportKind.RECONNECTION]


def test_a_bill_paid_elsewhere_after_pricing_is_refused_before_charging(customer):
    bill = own_bill(customer)
    attempt = checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])
    pay(bill, bill.amount, date(2026, 11, 27))

    assert bill.number in checkout.attempt_stale_reason(attempt=attempt)  # "… has been paid …"
    assert LedgerEntry.objects.filter(kind=EntryKind.PAYMENT).count() == 1  # the counter's only
