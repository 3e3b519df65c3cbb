"""Many payments of one bill at once (PostgreSQL: real row locks, real threads, one database
connection each). No over-collection: money for a bill that is already paid becomes credit on
the account, never lost and never counted twice; a new payment of a paid bill is refused before
anyone is charged."""

import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from payments import checkout, gateways
from payments.ledger import account_credit
from payments.models import (
    AttemptStatus,
    BillingExport,
    BillStatus,
    Book,
    ExportKind,
    LedgerLine,
    PaymentAttempt,
)
from payments.webhooks import webhook_receive
from portal.core.errors import InvalidInput
from tests.factories import (
    BillFactory,
    MemberScopeFactory,
    MembershipFactory,
    OrganisationFactory,
    OrgBindingFactory,
)
from tests.payments.test_ledger import assert_ledger_balances, balance

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks under concurrency: PostgreSQL only"
    ),
    pytest.mark.django_db(transaction=True),
]

ATTEMPTS = 50
MEMBERS = 5  # 10 attempts each, well inside checkout.ATTEMPTS_PER_HOUR per person
SETTLERS = 10  # threads (database connections) settling the 50 payments at once


def in_threads(count: int, work) -> list:
    """Run ``work(i)`` in ``count`` threads released together; each closes its own database
    connection at the end. Returns the results in thread order; re-raises a thread's error."""
    start = threading.Barrier(count)
    results: list = [None] * count
    errors: list = []

    def run(i):
        try:
            start.wait()
            results[i] = work(i)
        except BaseException as error:  # noqa: BLE001 - handed to the test below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def test_fifty_payments_of_one_bill_at_once_pay_it_once_and_the_rest_becomes_credit(
    audit_actions,
):
    # One organisation's account, and five members who may pay its bills.
    organisation = OrganisationFactory()
    binding = OrgBindingFactory(organisation=organisation)
    members = [MembershipFactory(organisation=organisation, role="member") for _ in range(MEMBERS)]
    for membership in members:
        MemberScopeFactory(membership=membership, binding=binding, can_view=True, can_pay=True)
    bill = BillFactory(account=binding.account)  # overdue: the attempts include a penalty

    # Everyone opens the pay page at once, ten times each: 50 attempts, each frozen at the
    # full amount owed (nothing is paid yet, and pricing a bill does not reserve it).
    def price(i):
        user = members[i].user
        return [
            checkout.attempt_create(user=user, bill_uuids=[bill.uuid]).pk
            for _ in range(ATTEMPTS // MEMBERS)
        ]

    in_threads(MEMBERS, price)
    attempts = list(PaymentAttempt.objects.order_by("pk"))
    assert len(attempts) == ATTEMPTS
    owed = attempts[0].amount
    assert owed > bill.amount  # amount + penalty
    assert {attempt.amount for attempt in attempts} == {owed}
    # A 51st opened meanwhile and left on the pay page: it will go stale.
    late = checkout.attempt_create(user=members[0].user, bill_uuids=[bill.uuid])
    for attempt in attempts:
        checkout.attempt_begin(attempt=attempt)

    # All 50 customers confirm at the gateway at once; the events reach the webhook code
    # concurrently, ten connections at a time.
    def settle(i):
        answers = []
        for attempt in attempts[i::SETTLERS]:
            payload, signature = gateways.local_outcome(attempt, "succeed")
            answers.append(webhook_receive(payload, signature, gateway="local").status)
        return answers

    answers = [status for statuses in in_threads(SETTLERS, settle) for status in statuses]

    assert Counter(answers) == {200: ATTEMPTS}
    assert Counter(PaymentAttempt.objects.values_list("status", flat=True)) == {
        AttemptStatus.SUCCEEDED: ATTEMPTS,
        AttemptStatus.PENDING: 1,  # the late one, never charged
    }
    bill.refresh_from_db()
    # Paid exactly once: the amount and the penalty, no more.
    assert bill.status == BillStatus.PAID
    assert bill.principal_paid == bill.amount
    assert bill.penalty_paid == bill.penalty_charged == owed - bill.amount
    # Every fen that was taken is in the ledger, once.
    cash = balance(Book.CASH)
    assert cash == owed * ATTEMPTS
    assert LedgerLine.objects.filter(book=Book.CASH).count() == ATTEMPTS
    # What the bill did not need is the account's credit, for its next bill.
    assert account_credit(account_id=binding.account_id) == cash - bill.amount - bill.penalty_paid
    assert account_credit(account_id=binding.account_id) == owed * (ATTEMPTS - 1)
    assert_ledger_balances()
    # Each payment is accounted for in the audit trail and handed to the billing system once.
    assert len(audit_actions(action="payment.succeeded")) == ATTEMPTS
    assert BillingExport.objects.filter(kind=ExportKind.PAYMENT).count() == ATTEMPTS
    references = {
        export.payload["reference"] for export in BillingExport.objects.filter(kind="payment")
    }
    assert references == {attempt.reference for attempt in attempts}

    # Afterwards: a new payment of the paid bill is refused, and the stale one is stopped
    # before the customer is charged.
    with pytest.raises(InvalidInput):
        checkout.attempt_create(user=members[1].user, bill_uuids=[bill.uuid])
    assert bill.number in checkout.attempt_stale_reason(
        attempt=late
    )  # "… has been paid in the meantime"
    assert PaymentAttempt.objects.count() == ATTEMPTS + 1
    assert balance(Book.CASH) == cash == Decimal(owed) * ATTEMPTS
