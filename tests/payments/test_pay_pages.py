"""The customer's pay pages: choosing bills, the frozen payment, the local test gateway, the
Stripe payment page under its Content-Security-Policy, and the return page.

The local gateway's buttons go through the same webhook code as Stripe's events; the Stripe
path runs the real SDK against localstripe (tests/payments/conftest.py). Both databases.
"""

import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from payments.gateways import stripe_api
from payments.models import (
    AttemptStatus,
    BillStatus,
    Book,
    LedgerLine,
    LocalIntent,
    PaymentAttempt,
    WebhookEvent,
)
from payments.selectors import owed_today
from portal.core import clock
from tests.factories import (
    BillFactory,
    BindingFactory,
    MemberScopeFactory,
    MembershipFactory,
    OrgBindingFactory,
    UserFactory,
    pay,
)

pytestmark = pytest.mark.django_db
D = Decimal

# Measured, plus a little room. A signed-in request costs 2: session and user (test_bill_pages.py).
# The list adds 9: the accounts (bindings, memberships, the organisation's bindings), the bills,
# their payments, the penalty rules, the labels, the organisations' names and the header's
# memberships. The payment page adds 6: the attempt, its bills with their payments and the
# penalty rules (the stale check), its bills again (the table), the header. Neither grows with
# the number of bills or accounts.
LIST_QUERY_BUDGET = 13
ATTEMPT_QUERY_BUDGET = 15


def page_text(response) -> str:
    """The page's visible text, tags removed and spaces collapsed, as a reader sees it."""
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    html = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def get(client, url, params=None):
    return client.get(url, params or {}, HTTP_ACCEPT_LANGUAGE="en")


def post(client, url, data):
    return client.post(url, data, HTTP_ACCEPT_LANGUAGE="en")


def attempt_url(name, attempt) -> str:
    return reverse(f"pay:{name}", kwargs={"attempt": attempt.uuid})


def choose(client, *bills):
    """Tick ``bills`` on /pay/ and continue: the new attempt."""
    response = post(client, reverse("pay:bills"), {"bill": [str(bill.uuid) for bill in bills]})
    assert response.status_code == 302, page_text(response)
    attempt = PaymentAttempt.objects.get(uuid=response["Location"].split("/")[2])
    assert response["Location"] == attempt_url("attempt", attempt)
    return attempt


def press(client, attempt, outcome):
    """A button on the local test gateway's page."""
    return post(client, attempt_url("test_gateway", attempt), {"outcome": outcome})


def cash_of(attempt):
    return LedgerLine.objects.filter(book=Book.CASH, entry__reference=attempt.reference)


@pytest.fixture
def customer():
    return UserFactory()


@pytest.fixture
def bills(customer):
    """Two accounts: one bill overdue since 2026-10-20 (a penalty), one due in ten days."""
    home = BindingFactory(user=customer, label="Home")
    shop = BindingFactory(user=customer, label="")
    overdue = BillFactory(account=home.account, amount=D("110.00"))
    due = BillFactory(
        account=shop.account, amount=D("250.50"), due_date=clock.today() + timedelta(days=10)
    )
    return overdue, due


@pytest.fixture
def signed_in(client, customer):
    client.force_login(customer)
    return client


# --- Choosing bills -----------------------------------------------------------------------------
def test_pay_list_shows_each_bill_by_account_with_amount_penalty_and_total(signed_in, bills):
    overdue, due = bills
    paid = BillFactory(account=overdue.account, number="B-PAID-ALREADY")
    pay(paid, paid.amount, paid.due_date)
    someone_elses = BindingFactory()
    BillFactory(account=someone_elses.account, number="B-NOT-MINE")
    owed = owed_today(bills=[overdue, due])
    assert owed[overdue.pk].penalty_due > 0 and owed[due.pk].penalty_due == 0

    text = page_text(get(signed_in, reverse("pay:bills")))

    assert f"Home {overdue.account.number}" in text
    assert due.account.number in text
    assert f"¥110.00 ¥{owed[overdue.pk].penalty_due} ¥{owed[overdue.pk].total}" in text
    assert "¥250.50 ¥0.00 ¥250.50" in text
    assert "B-PAID-ALREADY" not in text and "B-NOT-MINE" not in text
    assert "Selected: ¥0.00" in text


def test_a_bill_in_the_address_is_ticked_and_its_total_shown(signed_in, bills):
    overdue, due = bills

    response = get(signed_in, reverse("pay:bills"), {"bill": [str(due.uuid)]})

    html = response.content.decode()
    assert re.search(rf'value="{due.uuid}"[^>]*checked', html)
    assert not re.search(rf'value="{overdue.uuid}"[^>]*checked', html)
    assert "Selected: ¥250.50" in page_text(response)
    # The dashboard's "pay" ticks every bill of one account.
    html = get(signed_in, reverse("pay:bills"), {"account": overdue.account.number}).content
    assert re.search(rf'value="{overdue.uuid}"[^>]*checked', html.decode())
    assert not re.search(rf'value="{due.uuid}"[^>]*checked', html.decode())


def test_the_bill_page_and_the_dashboard_lead_to_paying(signed_in, bills):
    overdue, _due = bills

    bill_page = get(signed_in, reverse("bills:detail", kwargs={"bill": overdue.uuid}))
    dashboard = get(signed_in, reverse("me:dashboard"))

    assert f'href="{reverse("pay:bills")}?bill={overdue.uuid}"' in bill_page.content.decode()
    account = f'href="{reverse("pay:bills")}?account={overdue.account.number}"'
    assert account in dashboard.content.decode()


def test_posting_the_chosen_bills_freezes_todays_total_in_an_attempt(signed_in, bills, customer):
    overdue, due = bills
    owed = owed_today(bills=[overdue, due])

    attempt = choose(signed_in, overdue, due)

    assert attempt.created_by == customer
    assert attempt.amount == owed[overdue.pk].total + owed[due.pk].total
    assert attempt.status == AttemptStatus.PENDING
    text = page_text(get(signed_in, attempt_url("attempt", attempt)))
    penalty = owed[overdue.pk].penalty_due
    assert f"{overdue.number} {overdue.account.number}" in text
    assert f"¥110.00 ¥{penalty} ¥{owed[overdue.pk].total}" in text
    assert f"¥250.50 ¥0.00 ¥250.50 Total ¥{attempt.amount:,}" in text
    assert f"Priced for {clock.today().isoformat()} (Beijing time), valid until the end" in text
    assert "Test payment — no real money moves" in text
    attempt.refresh_from_db()
    assert attempt.intent_id.startswith("pi_local_")


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        ("foreign", "A chosen bill is already paid or cannot be paid here."),
        ("paid", "A chosen bill is already paid or cannot be paid here."),
        ("malformed", "A chosen bill cannot be paid here."),
        ("none", "Choose at least one bill to pay."),
    ],
)
def test_a_bill_that_cannot_be_paid_is_refused_and_nothing_is_created(
    signed_in, bills, chosen, message
):
    overdue, _due = bills
    if chosen == "foreign":
        values = [str(overdue.uuid), str(BillFactory(account=BindingFactory().account).uuid)]
    elif chosen == "paid":
        pay(overdue, D("200.00"), clock.today())
        values = [str(overdue.uuid)]
    elif chosen == "malformed":
        values = [str(overdue.uuid), "not-a-bill"]
    else:
        values = []

    response = post(signed_in, reverse("pay:bills"), {"bill": values})

    assert message in page_text(response)
    assert not PaymentAttempt.objects.exists()


def test_an_organisation_member_pays_the_accounts_they_hold_the_pay_scope_on(client):
    membership = MembershipFactory(organisation__name="星河商贸有限公司")
    may_pay = OrgBindingFactory(organisation=membership.organisation)
    MemberScopeFactory(membership=membership, binding=may_pay, can_pay=True)
    may_only_view = OrgBindingFactory(organisation=membership.organisation)
    MemberScopeFactory(membership=membership, binding=may_only_view)
    payable = BillFactory(account=may_pay.account)
    viewable = BillFactory(account=may_only_view.account)
    client.force_login(membership.user)

    text = page_text(get(client, reverse("pay:bills")))

    assert f"星河商贸有限公司 · {may_pay.account.holder_name}" in text
    assert payable.number in text and viewable.number not in text
    attempt = choose(client, payable)
    assert attempt.organisation == membership.organisation


def test_pay_selected_on_the_organisations_accounts_ticks_their_bills(client):
    membership = MembershipFactory()
    may_pay = OrgBindingFactory(organisation=membership.organisation)
    MemberScopeFactory(membership=membership, binding=may_pay, can_pay=True)
    may_only_view = OrgBindingFactory(organisation=membership.organisation)
    MemberScopeFactory(membership=membership, binding=may_only_view)
    payable = BillFactory(account=may_pay.account)
    BillFactory(account=may_only_view.account)
    client.force_login(membership.user)
    accounts_page = get(
        client, reverse("org:accounts", kwargs={"org": membership.organisation.uuid})
    )
    assert f'formaction="{reverse("pay:bills")}"' in accounts_page.content.decode()

    # The accounts table's form sends the ticked rows' binding UUIDs.
    response = get(
        client, reverse("pay:bills"), {"binding": [str(may_pay.uuid), str(may_only_view.uuid)]}
    )

    html = response.content.decode()
    assert re.search(rf'value="{payable.uuid}"[^>]*checked', html)
    assert html.count("checked") == 1  # the other account's bill is not payable by this member


def test_an_organisation_administrator_sets_up_two_factors_before_paying_for_it(client):
    membership = MembershipFactory(role="admin")
    bill = BillFactory(account=OrgBindingFactory(organisation=membership.organisation).account)
    client.force_login(membership.user)

    response = post(client, reverse("pay:bills"), {"bill": [str(bill.uuid)]})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_activate_totp"))
    assert not PaymentAttempt.objects.exists()


# --- Who sees an attempt ------------------------------------------------------------------------
def test_another_persons_attempt_is_not_found_on_every_route(client, signed_in, bills):
    attempt = choose(signed_in, bills[0])
    client.force_login(UserFactory())  # the same client, now someone else

    for name in ("attempt", "test_gateway", "done", "status"):
        assert get(client, attempt_url(name, attempt)).status_code == 404, name
    assert press(client, attempt, "succeed").status_code == 404
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.PENDING


def test_history_lists_only_the_persons_own_payments_newest_first(signed_in, bills):
    first = choose(signed_in, bills[0])
    second = choose(signed_in, bills[1])

    text = page_text(get(signed_in, reverse("pay:history")))

    assert text.index(second.reference) < text.index(first.reference)
    signed_in.force_login(UserFactory())
    assert first.reference not in page_text(get(signed_in, reverse("pay:history")))


# --- The local test gateway ---------------------------------------------------------------------
def test_paying_through_the_local_gateway_marks_the_bills_paid(signed_in, bills):
    overdue, due = bills
    attempt = choose(signed_in, overdue, due)
    gateway_page = page_text(get(signed_in, attempt_url("test_gateway", attempt)))
    assert "Test payment — no real money moves" in gateway_page
    assert f"¥{attempt.amount:,}" in gateway_page

    response = press(signed_in, attempt, "succeed")

    assert response.status_code == 302
    assert response["Location"] == attempt_url("done", attempt)
    text = page_text(get(signed_in, response["Location"]))
    assert "Payment received" in text and "The 2 bills below are paid." in text
    assert f"Status Paid Amount ¥{attempt.amount:,}" in text
    assert sum(line.amount for line in cash_of(attempt)) == attempt.amount
    assert WebhookEvent.objects.get().gateway == "local"  # through the webhook code
    for bill in (overdue, due):
        bill_page = page_text(get(signed_in, reverse("bills:detail", kwargs={"bill": bill.uuid})))
        assert "Paid in full" in bill_page
        assert attempt.reference in bill_page
    status = get(signed_in, attempt_url("status", attempt)).json()
    assert status == {"status": "succeeded", "label": "Paid", "final": True}
    # The payment page of a paid attempt now leads to its outcome, and nothing pays it twice.
    assert get(signed_in, attempt_url("attempt", attempt))["Location"] == attempt_url(
        "done", attempt
    )
    assert press(signed_in, attempt, "succeed").status_code == 302
    assert cash_of(attempt).count() == 2


def test_a_declined_card_fails_with_its_reason_and_can_be_tried_again(signed_in, bills):
    attempt = choose(signed_in, bills[0])

    press(signed_in, attempt, "decline")

    text = page_text(get(signed_in, attempt_url("done", attempt)))
    assert "The payment did not go through" in text
    assert "Reason: Your card was declined. Nothing was charged." in text
    assert (
        f'href="{attempt_url("attempt", attempt)}"'
        in get(signed_in, attempt_url("done", attempt)).content.decode()
    )
    assert get(signed_in, attempt_url("status", attempt)).json()["final"] is True
    assert not cash_of(attempt).exists()
    retry = page_text(get(signed_in, attempt_url("attempt", attempt)))
    assert "The last try did not go through: Your card was declined." in retry
    assert "Continue to the test payment" in retry

    press(signed_in, attempt, "succeed")

    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED
    assert sum(line.amount for line in cash_of(attempt)) == attempt.amount


def test_cancelling_at_the_gateway_charges_nothing(signed_in, bills):
    attempt = choose(signed_in, bills[0])

    press(signed_in, attempt, "cancel")

    text = page_text(get(signed_in, attempt_url("done", attempt)))
    assert "Payment cancelled" in text and "Nothing was charged." in text
    assert (
        f'href="{reverse("pay:bills")}"'
        in get(signed_in, attempt_url("done", attempt)).content.decode()
    )
    assert not cash_of(attempt).exists()


def test_a_bill_paid_elsewhere_after_pricing_is_refused_before_charging(signed_in, bills):
    overdue, _due = bills
    attempt = choose(signed_in, overdue)
    get(signed_in, attempt_url("attempt", attempt))  # the payment page opens the local payment
    pay(overdue, D("200.00"), clock.today(), channel="counter")

    response = press(signed_in, attempt, "succeed")

    assert f"Bill {overdue.number} has been paid in the meantime." in page_text(response)
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.CANCELLED
    assert LocalIntent.objects.get(intent_id=attempt.intent_id).status == "canceled"
    assert not cash_of(attempt).exists()
    assert not WebhookEvent.objects.exists()
    text = page_text(get(signed_in, attempt_url("attempt", attempt)))
    assert "Continue to the test payment" not in text and "Choose bills again" in text


def test_the_payment_page_refuses_an_attempt_past_its_day(signed_in, bills):
    with time_machine.travel(datetime(2026, 11, 27, 23, 50, tzinfo=clock.BUSINESS_TIME_ZONE)):
        attempt = choose(signed_in, bills[0])
    with time_machine.travel(datetime(2026, 11, 28, 0, 10, tzinfo=clock.BUSINESS_TIME_ZONE)):
        text = page_text(get(signed_in, attempt_url("attempt", attempt)))
        done = page_text(get(signed_in, attempt_url("done", attempt)))

    assert "This payment was priced for 2026-11-27 and has expired." in text
    assert "Continue to the test payment" not in text
    assert "Payment expired" in done
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.EXPIRED


def test_the_local_gateway_page_is_not_found_for_a_stripe_payment(
    signed_in, bills, stripe_settings
):
    attempt = choose(signed_in, bills[0])
    assert attempt.gateway == "stripe"

    assert get(signed_in, attempt_url("test_gateway", attempt)).status_code == 404
    assert press(signed_in, attempt, "succeed").status_code == 404


# --- Stripe -------------------------------------------------------------------------------------
def csp_of(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (directive.split() for directive in policy.split(";") if directive)
    }


def test_the_stripe_payment_page_mounts_the_payment_element_under_a_strict_policy(
    signed_in, bills, stripe_settings
):
    attempt = choose(signed_in, bills[0])

    response = get(signed_in, attempt_url("attempt", attempt))

    attempt.refresh_from_db()
    assert attempt.intent_id.startswith("pi_") and attempt.client_secret
    html = response.content.decode()
    assert f'data-client-secret="{attempt.client_secret}"' in html
    assert 'data-publishable-key="pk_test_powerhall"' in html
    assert f'data-return-url="http://testserver{attempt_url("done", attempt)}"' in html
    assert 'id="payment-element"' in html
    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert scripts and all("src=" in attributes for attributes in scripts)  # nothing inline
    assert 'src="https://js.stripe.com/v3/"' in html
    policy = csp_of(response)
    assert policy["script-src"] == ["'self'", "https://js.stripe.com", "https://*.js.stripe.com"]
    assert policy["default-src"] == ["'self'"]
    assert "https://js.stripe.com" in policy["frame-src"]
    assert "https://hooks.stripe.com" in policy["frame-src"]
    assert policy["connect-src"] == ["'self'", "https://api.stripe.com"]
    assert "Test payment" not in page_text(response)
    # Opening the page again reuses the payment made the first time.
    get(signed_in, attempt_url("attempt", attempt))
    assert PaymentAttempt.objects.get(pk=attempt.pk).intent_id == attempt.intent_id


def test_the_return_page_credits_a_succeeded_stripe_payment_without_a_webhook(
    signed_in, bills, stripe_settings, audit_actions
):
    overdue, due = bills
    attempt = choose(signed_in, overdue, due)
    get(signed_in, attempt_url("attempt", attempt))
    attempt.refresh_from_db()
    # What the Payment Element does in the browser: confirm the intent with a card.
    # (localstripe cannot confirm with a payment_method parameter: it is attached first.)
    client = stripe_api.stripe_client()
    client.v1.payment_intents.update(attempt.intent_id, params={"payment_method": "pm_card_visa"})
    intent = client.v1.payment_intents.confirm(attempt.intent_id)
    assert intent.status == "succeeded"

    text = page_text(get(signed_in, attempt_url("done", attempt)))

    assert "Payment received" in text
    assert not WebhookEvent.objects.exists()
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED
    for bill in (overdue, due):
        bill.refresh_from_db()
        assert bill.status == BillStatus.PAID
    assert sum(line.amount for line in cash_of(attempt)) == attempt.amount
    assert audit_actions(action="payment.succeeded") == ["payment.succeeded"]
    # Reloading the page, or the webhook arriving later, credits nothing more.
    get(signed_in, attempt_url("done", attempt))
    assert cash_of(attempt).count() == 2


def test_the_return_page_waits_for_a_payment_not_made_yet(signed_in, bills, stripe_settings):
    attempt = choose(signed_in, bills[0])
    get(signed_in, attempt_url("attempt", attempt))

    response = get(signed_in, attempt_url("done", attempt))

    text = page_text(response)
    assert "Waiting for your payment" in text
    assert "/static/js/pay_status.js" in response.content.decode()
    assert '<meta http-equiv="refresh" content="5">' in response.content.decode()
    status = get(signed_in, attempt_url("status", attempt)).json()
    assert status == {"status": "pending", "label": "Waiting for payment", "final": False}


# --- Cost ---------------------------------------------------------------------------------------
def test_the_pay_pages_cost_a_bounded_number_of_queries(
    signed_in, customer, django_assert_max_num_queries
):
    chosen = []
    for _account in range(4):
        binding = BindingFactory(user=customer)
        for month in range(3):
            chosen.append(
                BillFactory(account=binding.account, due_date=clock.today() - timedelta(month))
            )
    membership = MembershipFactory(user=customer)
    MemberScopeFactory(
        membership=membership,
        binding=OrgBindingFactory(organisation=membership.organisation),
        can_pay=True,
    )
    get(signed_in, reverse("me:dashboard"))  # the session's first request records the device

    with django_assert_max_num_queries(LIST_QUERY_BUDGET):
        response = get(signed_in, reverse("pay:bills"))
    assert len(re.findall(r'name="bill"', response.content.decode())) == 12
    attempt = choose(signed_in, *chosen)
    # The first opening also makes the gateway payment (6 more: the local intent, the attempt).
    with django_assert_max_num_queries(ATTEMPT_QUERY_BUDGET + 6):
        get(signed_in, attempt_url("attempt", attempt))
    with django_assert_max_num_queries(ATTEMPT_QUERY_BUDGET):
        assert get(signed_in, attempt_url("attempt", attempt)).status_code == 200
