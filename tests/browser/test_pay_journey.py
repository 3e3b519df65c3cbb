"""A customer in a real browser pays two bills of two accounts in one payment through the local
test gateway, lands on the return page showing the payment received, and finds both bills paid
on their bill list. On a desktop and on a 390-pixel-wide phone.

Elements are found by URLs, form names and data attributes, not by wording or CSS classes.
"""

import subprocess
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import translation

from payments.models import AttemptStatus, BillStatus, PaymentAttempt
from payments.selectors import owed_today
from portal.core import clock
from tests.factories import (
    PASSWORD,
    BillFactory,
    BindingFactory,
    ServiceAccountFactory,
    UserFactory,
)

EMAIL = "chen.jing@example.cn"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def path_of(page) -> str:
    return urlsplit(page.url).path


def both_widths(page, screenshot, name: str) -> None:
    screenshot(f"{name}-desktop")
    page.set_viewport_size(PHONE)
    screenshot(f"{name}-phone")
    page.set_viewport_size(DESKTOP)


@pytest.fixture
def customer():
    """Two accounts, an unpaid bill on each: the home's is overdue (a penalty), the shop's due
    in a week."""
    user = UserFactory(email=EMAIL, name="陈静")
    home = BindingFactory(
        user=user,
        label="家",
        account=ServiceAccountFactory(number="3100000301", address="海淀区学院路 20 号院 3 号楼"),
    )
    shop = BindingFactory(
        user=user,
        label="小卖部",
        account=ServiceAccountFactory(number="3100000302", address="海淀区成府路 8 号"),
    )
    today = clock.today()
    overdue = BillFactory(
        number="B2026100301",
        account=home.account,
        amount=Decimal("186.40"),
        due_date=today - timedelta(days=12),
    )
    due = BillFactory(
        number="B2026100302",
        account=shop.account,
        amount=Decimal("1268.55"),
        due_date=today + timedelta(days=7),
    )
    return {"user": user, "home": home, "overdue": overdue, "due": due}


@pytest.mark.browser
def test_customer_pays_two_bills_of_two_accounts_and_sees_them_paid(
    page, customer, screenshot, mailoutbox, tmp_path
):
    overdue, due = customer["overdue"], customer["due"]
    owed = owed_today(bills=[overdue, due])
    total = owed[overdue.pk].total + owed[due.pk].total
    assert owed[overdue.pk].penalty_due > 0

    page.goto(reverse("account_login"))
    page.fill('input[name="login"]', EMAIL)
    page.fill('input[name="password"]', PASSWORD)
    with page.expect_navigation():
        page.locator(f'main form[action="{reverse("account_login")}"] button[type=submit]').click()

    # The dashboard's "pay" on the home account opens the pay page with its bill ticked.
    page.goto(reverse("me:dashboard"))
    both_widths(page, screenshot, "pay-0-dashboard")
    with page.expect_navigation():
        page.locator(f'main a[href^="{reverse("pay:bills")}?account=3100000301"]').click()
    assert path_of(page) == reverse("pay:bills")
    home_box = page.locator(f'main input[name="bill"][value="{overdue.uuid}"]')
    shop_box = page.locator(f'main input[name="bill"][value="{due.uuid}"]')
    assert home_box.is_checked() and not shop_box.is_checked()
    selected = page.locator("main [data-selection-total]").first
    assert selected.inner_text() == f"¥{owed[overdue.pk].total:,}"
    body = page.locator("main").inner_text()
    assert f"¥{owed[overdue.pk].penalty_due:,}" in body and "¥1,268.55" in body

    # Ticking the shop's bill too: the selected total follows (the server prices it again).
    shop_box.check()
    assert selected.inner_text() == f"¥{total:,}"
    both_widths(page, screenshot, "pay-1-choose")
    with page.expect_navigation():
        page.locator('main form[data-pay-selection] button[type="submit"]').first.click()

    attempt = PaymentAttempt.objects.get(created_by=customer["user"])
    assert path_of(page) == reverse("pay:attempt", kwargs={"attempt": attempt.uuid})
    assert attempt.amount == total
    body = page.locator("main").inner_text()
    assert overdue.number in body and due.number in body and f"¥{total:,}" in body
    both_widths(page, screenshot, "pay-2-attempt")

    gateway_url = reverse("pay:test_gateway", kwargs={"attempt": attempt.uuid})
    with page.expect_navigation():
        page.locator(f'main a[href="{gateway_url}"]').click()
    assert path_of(page) == gateway_url
    both_widths(page, screenshot, "pay-3-test-gateway")
    with page.expect_navigation():
        page.locator('main button[name="outcome"][value="succeed"]').click()

    assert path_of(page) == reverse("pay:done", kwargs={"attempt": attempt.uuid})
    status = page.locator("main [data-pay-status]")
    assert status.get_attribute("data-status") == AttemptStatus.SUCCEEDED
    assert status.get_attribute("data-final") == "true"
    for bill in (overdue, due):
        assert page.locator(f'main a[href="{reverse("bills:detail", kwargs={"bill": bill.uuid})}"]')
    both_widths(page, screenshot, "pay-4-done")

    # Back on the bill list, both bills are paid.
    with translation.override("zh-hans"):
        paid = str(BillStatus.PAID.label)
    with page.expect_navigation():
        page.locator(f'main a[href="{reverse("me:bills")}"]').first.click()
    for bill in (overdue, due):
        bill.refresh_from_db()
        assert bill.status == BillStatus.PAID
        row = page.locator("main tbody tr", has=page.locator(f'a:text-is("{bill.number}")'))
        assert paid in row.inner_text()
    both_widths(page, screenshot, "pay-5-bills")

    # The payment in the person's history.
    page.goto(reverse("pay:history"))
    assert attempt.reference in page.locator("main").inner_text()
    both_widths(page, screenshot, "pay-6-history")

    # The e-mail with the receipt: open the PDF, see correct Chinese, scan its QR code.
    (message,) = [m for m in mailoutbox if attempt.reference in m.body]
    assert message.to == [EMAIL]
    ((name, pdf, mimetype),) = message.attachments
    assert mimetype == "application/pdf"
    receipt = attempt.receipts.get()
    assert receipt.number in name
    (tmp_path / "receipt.pdf").write_bytes(pdf)
    fonts = run(["pdffonts", "receipt.pdf"], tmp_path)
    assert "WenQuanYi" in fonts
    text = run(["pdftotext", "-layout", "receipt.pdf", "-"], tmp_path)
    assert "电费缴费凭证" in text and "3100000301" in text and "3100000302" in text
    assert f"{total:.2f}" in text.replace(",", "")
    assert receipt.snapshot["amount_capitals"] in text.replace(" ", "")
    run(["pdftoppm", "-r", "150", "-png", "-singlefile", "receipt.pdf", "page"], tmp_path)
    scanned = run(["zbarimg", "--quiet", "--raw", "page.png"], tmp_path).strip()
    assert scanned == receipt.snapshot["verify_url"]
    page.goto(urlsplit(scanned).path)
    body = page.locator("main").inner_text()
    assert receipt.number in body and f"{total:.2f}" in body.replace(",", "")
    both_widths(page, screenshot, "pay-7-verified")

    # A tampered link is refused.
    response = page.goto(urlsplit(scanned).path[:-2] + "xx/")
    assert response.status == 404
    assert receipt.number not in page.locator("main").inner_text()


def run(command: list[str], cwd) -> str:
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout
