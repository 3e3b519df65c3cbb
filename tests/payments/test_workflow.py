"""Status changes through the one transition helper (portal.core.transitions) and the payments
workflows (payments/workflow.py): every change leaves an audit record, an illegal one changes
nothing, a repeated one changes nothing, and after-commit work waits for the commit."""

import json

import pytest

from payments import checkout
from payments.models import AttemptStatus
from payments.workflow import ATTEMPT, INVOICE
from portal.core.transitions import TransitionRefused, transition
from portal.models import AuditEvent
from tests.factories import UserFactory
from tests.payments.test_checkout import local_pay, own_bill

pytestmark = pytest.mark.django_db


@pytest.fixture
def attempt():
    customer = UserFactory()
    return checkout.attempt_create(user=customer, bill_uuids=[own_bill(customer).uuid])


def test_a_declined_card_fails_the_attempt_with_an_audit_record(attempt):
    local_pay(attempt, "decline")

    assert attempt.status == AttemptStatus.FAILED
    event = AuditEvent.objects.get(action="payment.failed")
    assert json.loads(event.data)["from"] == AttemptStatus.PENDING
    assert event.object_ref == f"payments.paymentattempt:{attempt.uuid}"


def test_an_illegal_move_is_refused_and_writes_nothing(attempt):
    local_pay(attempt, "succeed")
    before = AuditEvent.objects.count()

    with pytest.raises(TransitionRefused) as refused:
        transition(attempt, ATTEMPT, to=AttemptStatus.CANCELLED)

    assert (refused.value.current, refused.value.to) == ("succeeded", "cancelled")
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED
    assert AuditEvent.objects.count() == before


def test_the_same_status_again_changes_nothing(attempt):
    first = transition(attempt, ATTEMPT, to=AttemptStatus.PROCESSING)
    again = transition(attempt, ATTEMPT, to=AttemptStatus.PROCESSING)

    assert (first.changed, again.changed) == (True, False)
    assert AuditEvent.objects.filter(action="payment.processing").count() == 1


def test_after_commit_work_runs_only_after_the_commit(attempt, django_capture_on_commit_callbacks):
    done = []
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        transition(attempt, ATTEMPT, to=AttemptStatus.CANCELLED, on_commit=[lambda: done.append(1)])
    assert done == []
    for callback in callbacks:
        callback()
    assert done == [1]


def test_the_workflows_name_only_their_own_statuses():
    assert ATTEMPT.is_final(AttemptStatus.SUCCEEDED)
    assert ATTEMPT.allows(AttemptStatus.EXPIRED, AttemptStatus.SUCCEEDED)  # money taken late
    assert not ATTEMPT.allows(AttemptStatus.EXPIRED, AttemptStatus.PENDING)
    assert INVOICE.is_final("issued") and INVOICE.is_final("rejected")
    with pytest.raises(ValueError):
        type(ATTEMPT)("broken", {"a": {"b"}})
