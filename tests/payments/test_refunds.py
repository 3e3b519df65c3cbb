"""Staff refund all or part of an online payment: through the provider (the real stripe SDK
against localstripe, or the local test gateway), from the Wagtail admin behind two factors and a
fresh password, audited; the ledger reverses exactly what was refunded.

Runs on SQLite and on PostgreSQL.
"""

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from bs4 import BeautifulSoup
from django.contrib.auth.models import Permission
from django.db import connection
from django.urls import reverse
from django.utils import translation

from payments import checkout, fulfilment, gateways
from payments.gateways.stripe_api import stripe_client
from payments.ledger import Posting, account_credit, ledger_post
from payments.models import (
    AttemptStatus,
    BillingExport,
    BillStatus,
    Book,
    EntryKind,
    ExportKind,
    LedgerEntry,
    LedgerLine,
    PaymentAttempt,
    Refund,
    RefundStatus,
)
from payments.reconcile import reconcile_payments
from payments.refunds import refund_available, refund_request, refund_retry
from payments.selectors import owed_today
from portal.core import clock
from portal.core.errors import InvalidInput
from portal.core.money import ZERO
from portal.models import AuditEvent
from portal.roles import SERVICE_STAFF, roles_ensure
from tests.factories import PASSWORD, BillFactory, StaffUserFactory, UserFactory, pay, totp_enrol
from tests.payments.test_checkout import local_pay, own_bill
from tests.payments.test_ledger import assert_ledger_balances, balance
from tests.payments.test_payment_concurrency import in_threads
from tests.payments.test_stripe_gateway import RecordingClient
from tests.payments.test_tariff_admin import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


D = Decimal
PAYMENTS = "/cms-admin/online-payments/"


@pytest.fixture
def customer():
    return UserFactory()


@pytest.fixture
def clerk():
    """A member of service staff (may see and refund online payments), without a session."""
    user = StaffUserFactory()
    user.groups.add(roles_ensure()[SERVICE_STAFF])
    return user


def paid(customer, *bills) -> PaymentAttempt:
    """The customer paid ``bills`` in one payment through the local test gateway."""
    attempt = checkout.attempt_create(user=customer, bill_uuids=[bill.uuid for bill in bills])
    local_pay(attempt)
    assert attempt.status == AttemptStatus.SUCCEEDED
    return attempt


def refund_lines(refund: Refund) -> set[tuple[str, str, Decimal]]:
    """(book, bill number, amount) of each line the refund posted."""
    return {
        (line.book, line.bill.number, line.amount)
        for line in LedgerLine.objects.filter(entry=refund.entry).select_related("bill")
    }


def snapshot() -> tuple[int, ...]:
    return (
        LedgerEntry.objects.count(),
        LedgerLine.objects.count(),
        Refund.objects.count(),
        AuditEvent.objects.count(),
        BillingExport.objects.count(),
    )


# --- The service, through the local test gateway -------------------------------------------------


def test_a_partial_refund_takes_back_the_credit_first_then_the_penalty(customer, clerk):
    first = own_bill(customer, amount=D("110.00"))
    second = own_bill(customer, amount=D("80.00"))
    attempt = checkout.attempt_create(user=customer, bill_uuids=[first.uuid, second.uuid])
    first_item, second_item = attempt.items.order_by("bill_id")
    assert second_item.penalty > 0  # both overdue since 2026-10-20
    # The first bill is paid at a counter before the online payment arrives: the money the
    # payment brought for it is held as credit on its account.
    pay(first, owed_today(bills=[first])[first.pk].total, clock.today())
    local_pay(attempt)
    assert account_credit(account_id=first.account_id) == first_item.total
    cash_before = balance(Book.CASH)

    amount = first_item.total + D("1.00")
    refund = refund_request(attempt=attempt, amount=amount, reason="Paid twice", by=clerk)

    assert refund.status == RefundStatus.SUCCEEDED
    assert refund_lines(refund) == {
        (Book.CUSTOMER_CREDIT, first.number, first_item.total),
        (Book.CASH, first.number, -first_item.total),
        (Book.PENALTY_RECEIVABLE, second.number, D("1.00")),
        (Book.CASH, second.number, D("-1.00")),
    }
    assert balance(Book.CASH) == cash_before - amount
    assert account_credit(account_id=first.account_id) == 0
    assert_ledger_balances()
    second.refresh_from_db()
    first.refresh_from_db()
    assert first.status == BillStatus.PAID
    assert second.status == BillStatus.PARTLY_PAID
    assert owed_today(bills=[second])[second.pk].total == D("1.00")
    attempt.refresh_from_db()
    assert attempt.refunded == amount
    assert refund_available(attempt=attempt) == attempt.amount - amount
    entry = refund.entry
    assert (entry.kind, entry.channel, entry.reference) == (
        EntryKind.REFUND,
        "portal",
        attempt.reference,
    )
    assert entry.effective_date == clock.today()


def test_a_full_refund_leaves_the_bill_unpaid_and_payable_again(
    client, customer, clerk, audit_actions
):
    bill = own_bill(customer, amount=D("110.00"))
    attempt = paid(customer, bill)
    (item,) = attempt.items.all()
    bill.refresh_from_db()
    assert bill.status == BillStatus.PAID

    refund = refund_request(attempt=attempt, amount=attempt.amount, reason="Moved out", by=clerk)

    assert refund.status == RefundStatus.SUCCEEDED
    assert refund_lines(refund) == {
        (Book.PENALTY_RECEIVABLE, bill.number, item.penalty),
        (Book.RECEIVABLE, bill.number, item.principal),
        (Book.CASH, bill.number, -attempt.amount),
    }
    bill.refresh_from_db()
    assert (bill.status, bill.principal_paid, bill.penalty_paid, bill.settled_on) == (
        BillStatus.OPEN,
        ZERO,
        ZERO,
        None,
    )
    # The bill owes again what the payment had paid (the penalty charged when it was paid
    # stays charged), and the customer can pay it again.
    assert owed_today(bills=[bill])[bill.pk].total == item.total
    assert bill in checkout.payable_bills_for(user=customer)
    again = checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])
    assert again.amount == attempt.amount
    client.force_login(customer)
    page = client.get(reverse("bills:detail", args=[bill.uuid]), HTTP_ACCEPT_LANGUAGE="en")
    assert f"Refund {attempt.reference} −¥{attempt.amount:.2f}" in page_text(page)
    assert balance(Book.CASH, entry__reference=attempt.reference) == 0
    assert_ledger_balances()
    attempt.refresh_from_db()
    assert (attempt.refunded, attempt.refundable) == (attempt.amount, ZERO)
    assert audit_actions(action="refund.requested") == ["refund.requested"]
    succeeded = AuditEvent.objects.get(action="refund.succeeded")
    assert succeeded.actor_id == clerk.pk
    assert succeeded.object_ref == f"payments.refund:{refund.uuid}"
    export = BillingExport.objects.get(kind=ExportKind.REFUND)
    assert export.seq == succeeded.seq
    assert export.payload["refund"] == str(refund.uuid)
    assert export.payload["payment_reference"] == attempt.reference
    assert export.payload["amount"] == f"{attempt.amount:.2f}"
    assert export.payload["bills"] == [
        {
            "bill_number": bill.number,
            "account_number": bill.account.number,
            "amount": f"{item.principal:.2f}",
            "penalty": f"{item.penalty:.2f}",
            "credit": "0.00",
        }
    ]


def test_penalties_go_back_before_bill_amounts_and_the_last_bill_first(customer, clerk):
    first = own_bill(customer, amount=D("110.00"))
    second = own_bill(customer, amount=D("80.00"))
    attempt = paid(customer, first, second)
    first_item, second_item = attempt.items.order_by("bill_id")
    assert first_item.penalty > 0 and second_item.penalty > 0

    refund_request(attempt=attempt, amount=second_item.penalty, reason="Penalty waived", by=clerk)
    amount = first_item.penalty + D("30.00")
    refund = refund_request(attempt=attempt, amount=amount, reason="Meter fault", by=clerk)

    assert refund_lines(refund) == {
        (Book.PENALTY_RECEIVABLE, first.number, first_item.penalty),
        (Book.CASH, first.number, -first_item.penalty),
        (Book.RECEIVABLE, second.number, D("30.00")),
        (Book.CASH, second.number, D("-30.00")),
    }
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.principal_paid, first.penalty_paid) == (
        BillStatus.PARTLY_PAID,
        D("110.00"),
        ZERO,
    )
    assert (second.status, second.principal_paid, second.penalty_paid) == (
        BillStatus.PARTLY_PAID,
        D("50.00"),
        ZERO,
    )
    owed = owed_today(bills=[first, second])
    assert owed[first.pk].total == first_item.penalty
    assert owed[second.pk].total == D("30.00") + second_item.penalty
    assert_ledger_balances()


@pytest.mark.parametrize(
    ("amount", "reason", "message"),
    [
        ("200.01", "Too much", "can still be refunded"),
        ("0", "Nothing", "more than zero"),
        ("-5", "Negative", "more than zero"),
        ("1.005", "A third decimal", "at most two decimals"),
        ("10.00", "   ", "reason"),
    ],
)
def test_a_refund_that_cannot_be_made_is_refused_and_changes_nothing(
    customer, clerk, amount, reason, message
):
    bill = own_bill(customer, amount=D("500.00"))
    attempt = paid(customer, bill)
    refund_request(attempt=attempt, amount=attempt.amount - D("200.00"), reason="Part", by=clerk)
    attempt.refresh_from_db()
    assert attempt.refundable == D("200.00")
    before = snapshot()

    with pytest.raises(InvalidInput) as refused:
        refund_request(attempt=attempt, amount=D(amount), reason=reason, by=clerk)

    assert message in str(refused.value.message)
    assert snapshot() == before
    attempt.refresh_from_db()
    assert attempt.refunded == attempt.amount - D("200.00")


def test_a_payment_that_did_not_succeed_cannot_be_refunded(customer, clerk):
    bill = own_bill(customer)
    attempt = checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])
    local_pay(attempt, "decline")
    before = snapshot()

    with pytest.raises(InvalidInput, match="succeeded"):
        refund_request(attempt=attempt, amount=D("10.00"), reason="Declined", by=clerk)

    assert snapshot() == before


def test_credit_the_payment_left_and_since_used_on_another_bill_is_not_refunded(customer, clerk):
    bill = own_bill(customer, amount=D("110.00"))
    attempt = checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])
    pay(bill, owed_today(bills=[bill])[bill.pk].total, clock.today())
    local_pay(attempt)  # all of it becomes credit: the bill was paid at a counter meanwhile
    later = BillFactory(account=bill.account, amount=D("40.00"))
    with_credit = [
        Posting(bill.account_id, Book.CUSTOMER_CREDIT, D("40.00"), later.pk),
        Posting(bill.account_id, Book.RECEIVABLE, D("-40.00"), later.pk),
    ]
    ledger_post(
        kind=EntryKind.CREDIT_APPLIED,
        effective_date=clock.today(),
        lines=with_credit,
        reference=later.number,
    )
    left = attempt.amount - D("40.00")
    before = snapshot()

    with pytest.raises(InvalidInput) as refused:
        refund_request(attempt=attempt, amount=attempt.amount, reason="Paid twice", by=clerk)

    assert f"¥{left:.2f}" in str(refused.value.message)
    assert snapshot() == before
    refund = refund_request(attempt=attempt, amount=left, reason="Paid twice", by=clerk)
    assert refund.status == RefundStatus.SUCCEEDED
    assert account_credit(account_id=bill.account_id) == 0
    assert_ledger_balances()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks under concurrency: PostgreSQL only"
)
@pytest.mark.django_db(transaction=True)
def test_ten_refunds_of_one_payment_at_once_never_give_back_more_than_was_paid(customer, clerk):
    bill = own_bill(customer, amount=D("300.00"))
    attempt = paid(customer, bill)
    part = (attempt.amount * D("0.3")).quantize(D("0.01"))

    def refund(_i):
        try:
            return refund_request(attempt=attempt, amount=part, reason="Race", by=clerk).status
        except InvalidInput:
            return "refused"

    outcomes = in_threads(10, refund)

    assert Counter(outcomes) == {RefundStatus.SUCCEEDED: 3, "refused": 7}
    attempt.refresh_from_db()
    assert attempt.refunded == 3 * part
    assert balance(Book.CASH, entry__reference=attempt.reference) == attempt.amount - 3 * part
    assert BillingExport.objects.filter(kind=ExportKind.REFUND).count() == 3
    assert_ledger_balances()


# --- Through Stripe (the real SDK against localstripe) -------------------------------------------


def stripe_paid(customer, bill) -> PaymentAttempt:
    """Paid by card through Stripe, confirmed server-side, credited by the one fulfilment path."""
    attempt = checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])
    assert attempt.gateway == "stripe"
    attempt = checkout.attempt_begin(attempt=attempt)
    # What the Payment Element does in the browser. (localstripe cannot confirm with a
    # payment_method parameter: the card is attached first.)
    client = stripe_client()
    client.v1.payment_intents.update(attempt.intent_id, params={"payment_method": "pm_card_visa"})
    client.v1.payment_intents.confirm(attempt.intent_id)
    fulfilment.intent_apply(state=gateways.intent_retrieve(attempt), source="test")
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED
    return attempt


def refund_posts(recorder) -> list[tuple[dict, str]]:
    return [
        (headers, body)
        for method, url, headers, body in recorder.sent
        if method == "post" and url.endswith("/v1/refunds")
    ]


class Crash(Exception):
    """The process dies while Stripe is being asked."""


class CrashingClient(RecordingClient):
    def request(self, method, url, headers, post_data=None):
        super().request(method, url, headers, post_data)
        raise Crash


def test_part_of_a_stripe_payment_is_refunded_with_the_refunds_own_key(
    stripe_settings, customer, clerk
):
    bill = own_bill(customer, amount=D("110.00"))
    attempt = stripe_paid(customer, bill)
    recorder = RecordingClient()

    refund = refund_request(
        attempt=attempt,
        amount=D("60.50"),
        reason="Overcharged",
        by=clerk,
        client=stripe_client(http_client=recorder),
    )

    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.provider_refund_id.startswith("re_")
    ((headers, body),) = refund_posts(recorder)
    assert headers["Idempotency-Key"] == refund.idempotency_key == f"refund-{refund.uuid}"
    assert f"payment_intent={attempt.intent_id}" in body and "amount=6050" in body
    at_stripe = stripe_client().v1.refunds.retrieve(refund.provider_refund_id)
    assert (at_stripe.amount, at_stripe.status) == (6050, "succeeded")
    assert balance(Book.CASH, entry__reference=attempt.reference) == attempt.amount - D("60.50")
    assert_ledger_balances()


def test_a_refund_whose_answer_was_lost_is_retried_with_the_same_key(
    stripe_settings, customer, clerk
):
    bill = own_bill(customer, amount=D("110.00"))
    attempt = stripe_paid(customer, bill)
    crashing = CrashingClient()
    before = (LedgerLine.objects.count(), BillingExport.objects.count())

    refund = refund_request(
        attempt=attempt,
        amount=attempt.amount,
        reason="Moved out",
        by=clerk,
        client=stripe_client(http_client=crashing),
    )

    assert refund.status == RefundStatus.PENDING
    assert (LedgerLine.objects.count(), BillingExport.objects.count()) == before
    attempt.refresh_from_db()
    assert attempt.refunded == 0
    assert refund_available(attempt=attempt) == 0  # a second refund cannot overtake the pending one
    with pytest.raises(InvalidInput):
        refund_request(attempt=attempt, amount=D("1.00"), reason="Again", by=clerk)

    recorder = RecordingClient()
    retried = refund_retry(refund=refund, client=stripe_client(http_client=recorder))

    assert retried.status == RefundStatus.SUCCEEDED
    sent_keys = [h["Idempotency-Key"] for h, _b in refund_posts(crashing) + refund_posts(recorder)]
    assert sent_keys == [refund.idempotency_key, refund.idempotency_key]
    bill.refresh_from_db()
    assert bill.status == BillStatus.OPEN
    assert refund_retry(refund=retried).status == RefundStatus.SUCCEEDED  # settled: nothing more
    assert BillingExport.objects.filter(kind=ExportKind.REFUND).count() == 1
    assert_ledger_balances()


def test_reconciliation_settles_a_refund_left_pending(stripe_settings, customer, clerk):
    bill = own_bill(customer, amount=D("110.00"))
    attempt = stripe_paid(customer, bill)
    refund = refund_request(
        attempt=attempt,
        amount=D("10.00"),
        reason="Meter misread",
        by=clerk,
        client=stripe_client(http_client=CrashingClient()),
    )
    assert reconcile_payments().checked["refunds"] == 0  # young: its request may still be running

    with time_machine.travel(clock.now() + timedelta(minutes=10)):
        report = reconcile_payments()

    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert any("pending refund of 10.00 settled" in line for line in report.repaired.values())
    assert balance(Book.CASH, entry__reference=attempt.reference) == attempt.amount - D("10.00")
    assert_ledger_balances()


def test_a_refund_stripe_refuses_fails_and_leaves_the_ledger_alone(
    stripe_settings, customer, clerk, audit_actions
):
    bill = own_bill(customer, amount=D("110.00"))
    attempt = checkout.attempt_begin(
        attempt=checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])
    )
    # Our records say paid, but Stripe never charged this PaymentIntent: it refuses a refund.
    state = gateways.IntentState(
        id=attempt.intent_id,
        status=gateways.SUCCEEDED,
        amount=int(attempt.amount * 100),
        currency="cny",
        attempt_uuid=str(attempt.uuid),
        payment_method="card",
    )
    fulfilment.intent_apply(state=state, source="test")
    attempt.refresh_from_db()
    ledger = (LedgerEntry.objects.count(), LedgerLine.objects.count())

    refund = refund_request(attempt=attempt, amount=D("20.00"), reason="Complaint", by=clerk)

    assert refund.status == RefundStatus.FAILED
    assert "Cannot refund" in refund.failure_message
    assert refund.entry is None
    assert (LedgerEntry.objects.count(), LedgerLine.objects.count()) == ledger
    attempt.refresh_from_db()
    assert attempt.refunded == 0
    assert refund_available(attempt=attempt) == attempt.amount
    assert audit_actions(action="refund.failed") == ["refund.failed"]
    assert not BillingExport.objects.filter(kind=ExportKind.REFUND).exists()
    bill.refresh_from_db()
    assert bill.status == BillStatus.PAID


# --- The admin -----------------------------------------------------------------------------------


@pytest.fixture
def clerk_client(client, clerk, totp_code):
    """The clerk signed in with password and authenticator code, reading English."""
    sign_in(client, clerk, totp_enrol(clerk), totp_code)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def refund_url(attempt) -> str:
    return f"{PAYMENTS}refund/{attempt.pk}/"


def inspect_url(attempt) -> str:
    return f"{PAYMENTS}inspect/{attempt.pk}/"


def reauthenticate(client, response):
    """Answer allauth's "enter your password again", which replays the refund form's POST."""
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    return client.post(response["Location"], {"password": PASSWORD})


def page_text(response) -> str:
    return BeautifulSoup(response.content, "html.parser").get_text(" ", strip=True)


def test_staff_see_a_payment_with_its_bills_and_provider_events(clerk_client, customer):
    bill = own_bill(customer, amount=D("110.00"))
    attempt = paid(customer, bill)
    other = paid(customer, own_bill(customer, amount=D("55.00")))

    listing = clerk_client.get(PAYMENTS, {"reference": attempt.reference})
    assert listing.status_code == 200
    assert attempt.reference in page_text(listing)
    assert other.reference not in page_text(listing)

    page = clerk_client.get(inspect_url(attempt))
    text = page_text(page)
    assert bill.number in text
    assert attempt.events.get().event_id in text
    assert "payment_intent.succeeded" in text
    assert refund_url(attempt) in page.content.decode()
    assert f"{PAYMENTS}edit/" not in page.content.decode()


def test_staff_refund_from_the_admin_after_entering_their_password_again(
    clerk_client, clerk, customer
):
    bill = own_bill(customer, amount=D("110.00"))
    attempt = paid(customer, bill)
    form = clerk_client.get(refund_url(attempt))
    assert form.status_code == 200
    amount_field = BeautifulSoup(form.content, "html.parser").find(
        "input", attrs={"name": "amount"}
    )
    assert D(amount_field["value"]) == attempt.amount

    asked = clerk_client.post(refund_url(attempt), {"amount": "25.00", "reason": "Goodwill"})
    assert not Refund.objects.exists()  # not before the password
    response = reauthenticate(clerk_client, asked)

    assert response.status_code == 302
    assert response["Location"] == inspect_url(attempt)
    refund = Refund.objects.get()
    assert (refund.amount, refund.reason, refund.requested_by, refund.status) == (
        D("25.00"),
        "Goodwill",
        clerk,
        RefundStatus.SUCCEEDED,
    )
    actors = dict(
        AuditEvent.objects.filter(action__startswith="refund.").values_list("action", "actor_id")
    )
    assert actors == {"refund.requested": clerk.pk, "refund.succeeded": clerk.pk}
    page = clerk_client.get(response["Location"])
    assert "¥25.00 of" in page_text(page) and "was refunded" in page_text(page)
    assert "Goodwill" in page_text(page)

    # Within the next minutes the password is not asked again; the form says what is refused.
    refused = clerk_client.post(refund_url(attempt), {"amount": "500.00", "reason": "More"})
    assert refused.status_code == 200
    left = attempt.amount - D("25.00")
    assert f"At most ¥{left:.2f} of this payment can still be refunded." in page_text(refused)
    assert Refund.objects.count() == 1


def test_customers_and_staff_without_two_factors_or_the_permission_cannot_refund(
    client, customer, totp_code
):
    attempt = paid(customer, own_bill(customer))
    post = {"amount": "10.00", "reason": "Try"}

    client.force_login(customer)
    for url in (PAYMENTS, inspect_url(attempt), refund_url(attempt)):
        assert client.get(url).status_code == 403, url
    assert client.post(refund_url(attempt), post).status_code == 403

    # Staff who have not set up two factors are sent to do so first.
    client.logout()
    no_mfa = StaffUserFactory()
    no_mfa.groups.add(roles_ensure()[SERVICE_STAFF])
    client.post(reverse("account_login"), {"login": no_mfa.email, "password": PASSWORD})
    for response in (client.get(refund_url(attempt)), client.post(refund_url(attempt), post)):
        assert response.status_code == 302
        assert response["Location"] == reverse("mfa_activate_totp")

    # Staff who may see payments but not refund them see no Refund button and get 403.
    client.logout()
    viewer = StaffUserFactory()
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="payments", codename="view_paymentattempt")
    )
    sign_in(client, viewer, totp_enrol(viewer), totp_code)
    page = client.get(inspect_url(attempt))
    assert page.status_code == 200
    assert refund_url(attempt) not in page.content.decode()
    # (Wagtail answers a refusal inside the admin by sending the person to the admin's home.)
    for response in (client.get(refund_url(attempt)), client.post(refund_url(attempt), post)):
        assert response.status_code in (302, 403)
        assert response.get("Location", "/cms-admin/") == "/cms-admin/"

    assert not Refund.objects.exists()
    attempt.refresh_from_db()
    assert attempt.refunded == 0


def test_a_provider_refusal_shows_on_the_payment_page(stripe_settings, clerk_client, customer):
    bill = own_bill(customer, amount=D("110.00"))
    attempt = stripe_paid(customer, bill)
    PaymentAttempt.objects.filter(pk=attempt.pk).update(intent_id="pi_unknown_to_stripe")

    asked = clerk_client.post(refund_url(attempt), {"amount": "10.00", "reason": "Complaint"})
    response = reauthenticate(clerk_client, asked)
    page = clerk_client.get(response["Location"])

    assert "The provider refused the refund of ¥10.00" in page_text(page)
    assert Refund.objects.get().status == RefundStatus.FAILED
    assert not LedgerEntry.objects.filter(kind=EntryKind.REFUND).exists()
