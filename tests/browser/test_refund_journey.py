"""A refund by staff, in real browsers: a member of service staff signs in to the back office
with their password and authenticator code, opens the resident's online payment, refunds part of
it and confirms with their password again; the resident then finds the refund note among their
receipts and the bill's refunded part to pay again. In Chinese and in English.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from payments import checkout
from payments.models import AttemptStatus, ReceiptKind, Refund, RefundStatus
from payments.selectors import owed_today
from portal.core import clock
from portal.roles import SERVICE_STAFF, roles_ensure
from tests.browser.journey import (
    back_office_on_postgresql,
    path_of,
    settled,
    sign_in,
    sign_in_to_the_back_office,
    submit,
)
from tests.factories import (
    PASSWORD,
    BillFactory,
    BindingFactory,
    StaffUserFactory,
    UserFactory,
    totp_enrol,
)
from tests.payments.test_checkout import local_pay
from tests.payments.test_ledger import assert_ledger_balances

PAYMENTS = "/cms-admin/online-payments/"


@pytest.mark.browser
@back_office_on_postgresql
def test_staff_refund_part_of_a_payment_and_the_resident_sees_it(contexts, totp_code):
    resident = UserFactory(email="zhou.min@example.cn", name="周敏")
    bill = BillFactory(
        number="B2026110501",
        account=BindingFactory(user=resident, label="家").account,
        amount=Decimal("110.00"),
        due_date=clock.today() + timedelta(days=10),
    )
    attempt = checkout.attempt_create(user=resident, bill_uuids=[bill.uuid])
    local_pay(attempt)
    assert attempt.status == AttemptStatus.SUCCEEDED
    clerk = StaffUserFactory(name="刘柜员")
    clerk.groups.add(roles_ensure()[SERVICE_STAFF])
    secret = totp_enrol(clerk)

    # The clerk opens the payment in the back office and refunds 25.00 of it.
    desk = contexts["open_page"]()
    payment = f"{PAYMENTS}inspect/{attempt.pk}/"
    sign_in_to_the_back_office(desk, clerk, secret, payment, totp_code)
    assert attempt.reference in desk.locator("main").inner_text()
    assert bill.number in desk.locator("main").inner_text()
    with desk.expect_navigation():
        desk.locator(f'main a[href="{PAYMENTS}refund/{attempt.pk}/"]').first.click()
    settled(desk)
    desk.fill('input[name="amount"]', "25.00")
    desk.fill('[name="reason"]', "多收电费退还")
    submit(desk, "form[method=post]")
    # Money going out: the password again first (allauth), then the refund is made.
    assert path_of(desk) == reverse("account_reauthenticate")
    assert not Refund.objects.exists()
    desk.fill('input[name="password"]', PASSWORD)
    submit(desk, f'form[action^="{reverse("account_reauthenticate")}"]')
    settled(desk)
    assert path_of(desk) == payment
    refund = Refund.objects.get()
    assert (refund.amount, refund.status, refund.requested_by) == (
        Decimal("25.00"),
        RefundStatus.SUCCEEDED,
        clerk,
    )
    assert "多收电费退还" in desk.locator("main").inner_text()
    assert_ledger_balances()

    # The resident finds the refund note among their receipts, and 25.00 of the bill to pay.
    home = contexts["open_page"]()
    sign_in(home, resident.email, reverse("pay:history"))
    note = attempt.receipts.get(kind=ReceiptKind.REFUND)
    assert note.number in home.locator("main").inner_text()
    with home.expect_download() as download:
        home.locator(
            f'main a[href="{reverse("receipts:pdf", kwargs={"number": note.number})}"]'
        ).click()
    assert download.value.path().read_bytes().startswith(b"%PDF")
    bill.refresh_from_db()
    assert owed_today(bills=[bill])[bill.pk].total == Decimal("25.00")
    home.goto(reverse("bills:detail", kwargs={"bill": bill.uuid}))
    assert "25.00" in home.locator("main").inner_text()
