"""A customer in a real browser: signs in, sees what they owe on the dashboard, opens the bill
and reads how its amount and the late-payment penalty are worked out, then looks at 24 months of
usage and where they stand on the tier ladder. On a desktop and on a 390-pixel-wide phone.

Elements are found by URLs and form names, not by wording or CSS classes; the figures checked are
the ones a customer would compare with their paper bill.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from payments.models import BillLine, Tariff, TariffKind, TariffVersion, TierPeriod
from portal.core import clock
from tests.factories import (
    PASSWORD,
    BillFactory,
    BindingFactory,
    MemberScopeFactory,
    MembershipFactory,
    OrgBindingFactory,
    ServiceAccountFactory,
    UserFactory,
    pay,
)

EMAIL = "zhang.xiaoming@example.cn"
PHONE = {"width": 390, "height": 844}


def path_of(page) -> str:
    return urlsplit(page.url).path


def click(page, href: str) -> None:
    with page.expect_navigation():
        page.locator(f'main a[href^="{href}"]').first.click()


def month_start(day: date, back: int) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


@pytest.fixture
def customer():
    """Two years of monthly bills on a tiered tariff, all paid on time except the latest, which
    fell due ten days ago and is unpaid."""
    tariff = Tariff.objects.create(
        code="RES-TIER-M", name="居民阶梯电价（月度）", kind=TariffKind.TIERED
    )
    TariffVersion.objects.create(
        tariff=tariff,
        effective_from=date(2012, 7, 1),
        unit_price=Decimal("0.4883"),
        tier_period=TierPeriod.MONTHLY,
        tier1_limit_kwh=Decimal("240"),
        tier2_limit_kwh=Decimal("400"),
        source="京发改〔2012〕1号",
    )
    user = UserFactory(email=EMAIL, name="张晓明")
    binding = BindingFactory(
        user=user,
        label="家",
        account=ServiceAccountFactory(number="3100000001", address="朝阳区望京西园三区 312 号楼"),
    )
    today = clock.today()
    due = today - timedelta(days=10)
    latest_month = month_start(due, 1)
    bills = []
    for back in range(23, -1, -1):
        start = month_start(latest_month, back)
        end = month_start(start, -1) - timedelta(days=1)
        # Winter and summer use more; 240 kWh is the end of the first tier.
        kwh = Decimal(180 + (90 if start.month in (1, 2, 7, 8) else 0) + back % 3 * 7)
        tier2 = max(kwh - 240, Decimal(0))
        lines = [("第一档", kwh - tier2, Decimal("0.4883"))]
        if tier2:
            lines.append(("第二档", tier2, Decimal("0.5383")))
        amounts = [(k * p).quantize(Decimal("0.01")) for _label, k, p in lines]
        bill = BillFactory(
            number=f"B{start:%Y%m}0001",
            account=binding.account,
            period_start=start,
            period_end=end,
            issue_date=end + timedelta(days=5),
            due_date=due if back == 0 else end + timedelta(days=20),
            kwh=kwh,
            amount=sum(amounts),
        )
        for position, ((label, k, p), amount) in enumerate(zip(lines, amounts, strict=True)):
            BillLine.objects.create(
                bill=bill,
                position=position + 1,
                kind="tier",
                label=label,
                kwh=k,
                unit_price=p,
                amount=amount,
            )
        if back:
            pay(bill, bill.amount, bill.due_date - timedelta(days=2), channel="bank_debit")
        bills.append(bill)
    return {"user": user, "binding": binding, "latest": bills[-1]}


@pytest.mark.browser
def test_customer_reads_what_they_owe_the_bill_explained_and_their_usage(
    page, customer, screenshot
):
    latest, binding = customer["latest"], customer["binding"]
    # 10 days × 0.1 % of the amount, summed exactly, rounded once.
    penalty = (latest.amount * Decimal("0.001") * 10).quantize(Decimal("0.01"))
    penalty = max(penalty, Decimal("1.00"))
    owed = f"¥{latest.amount + penalty:,}"

    page.goto(reverse("account_login"))
    page.fill('input[name="login"]', EMAIL)
    page.fill('input[name="password"]', PASSWORD)
    with page.expect_navigation():
        page.locator(f'main form[action="{reverse("account_login")}"] button[type=submit]').click()
    page.goto(reverse("me:dashboard"))

    # The dashboard: the amount owed today, with the penalty, and a link to the latest bill.
    card = page.locator("main .account-cards > li").first
    assert owed in card.inner_text()
    screenshot("bills-1-dashboard")

    click(page, reverse("bills:detail", kwargs={"bill": latest.uuid}))
    assert path_of(page) == reverse("bills:detail", kwargs={"bill": latest.uuid})
    body = page.locator("main").inner_text()
    assert latest.number in body
    assert "第一档" in body and "× 0.4883" in body
    assert f"¥{latest.amount:,}" in body
    assert "0.1%" in body and f"¥{penalty:,}" in body
    assert owed in body
    # The arrears timeline names the earliest day a notice may be served.
    assert (latest.due_date + timedelta(days=1)).isoformat() in body
    screenshot("bills-2-bill-desktop")
    page.set_viewport_size(PHONE)
    screenshot("bills-3-bill-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    click(page, reverse("me:account_bills", kwargs={"binding": binding.uuid}))
    assert page.locator(f'main a[href="{reverse("bills:detail", kwargs={"bill": latest.uuid})}"]')
    screenshot("bills-4-list-desktop")
    page.set_viewport_size(PHONE)
    screenshot("bills-5-list-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    click(page, reverse("me:usage", kwargs={"binding": binding.uuid}))
    chart = page.locator("main svg.usage-chart")
    assert chart.count() == 1
    assert chart.locator("rect").count() == 24
    assert chart.get_attribute("role") == "img"
    page.locator("main details summary").first.click()
    assert f"{latest.period_end:%Y-%m}" in page.locator("main table").last.inner_text()
    screenshot("bills-6-usage-desktop")
    page.set_viewport_size(PHONE)
    screenshot("bills-7-usage-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(reverse("me:dashboard"))
    page.set_viewport_size(PHONE)
    screenshot("bills-8-dashboard-phone")


@pytest.mark.browser
# On the 20th the bills of last month (due on the 15th) are past due: a fixed day, because from
# the 1st to the 15th of a month the newest bill is not yet due and nothing would be overdue.
@pytest.mark.time_machine(datetime(2026, 11, 20, 10, tzinfo=clock.BUSINESS_TIME_ZONE))
def test_member_finds_an_overdue_account_and_downloads_the_statement(page, screenshot):
    member = MembershipFactory(user=UserFactory(email="li.na@example.cn", name="李娜"))
    organisation = member.organisation
    today = clock.today()
    for i, (holder, overdue) in enumerate([("星河商贸一店", True), ("星河商贸二店", False)]):
        binding = OrgBindingFactory(
            organisation=organisation,
            account=ServiceAccountFactory(
                number=f"520000020{i}", holder_name=holder, customer_class="lv_business"
            ),
        )
        MemberScopeFactory(membership=member, binding=binding)
        for back in range(3):
            start = month_start(today, back + 1)
            end = month_start(start, -1) - timedelta(days=1)
            bill = BillFactory(
                number=f"E{i}{start:%Y%m}",
                account=binding.account,
                period_start=start,
                period_end=end,
                issue_date=end + timedelta(days=3),
                due_date=end + timedelta(days=15),
                kwh=Decimal(2400 + 100 * back),
                amount=Decimal("1850.00") + 60 * back,
            )
            if not (overdue and back == 0) and bill.due_date <= today:
                pay(bill, bill.amount, bill.due_date, channel="bank_debit")

    page.goto(reverse("account_login"))
    page.fill('input[name="login"]', "li.na@example.cn")
    page.fill('input[name="password"]', PASSWORD)
    with page.expect_navigation():
        page.locator(f'main form[action="{reverse("account_login")}"] button[type=submit]').click()

    page.goto(reverse("org:accounts", kwargs={"org": organisation.uuid}))
    page.check('input[name="overdue"]')
    with page.expect_navigation():
        page.locator("main form[role=search] button[type=submit]").click()
    assert page.locator("main tbody tr").count() == 1
    assert "5200000200" in page.locator("main tbody").inner_text()
    screenshot("bills-9-org-accounts-overdue")

    click(page, reverse("org:bills", kwargs={"org": organisation.uuid}))
    assert page.locator("main tbody tr").count() == 6
    screenshot("bills-10-org-bills")

    page.locator("main details.statement summary").click()
    with page.expect_download() as download:
        page.locator(
            f'main form[action="{reverse("org:statement", kwargs={"org": organisation.uuid})}"] '
            "button[type=submit]"
        ).click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert text.count("\n") >= 5 and "星河商贸一店" in text
    page.set_viewport_size(PHONE)
    screenshot("bills-11-org-bills-phone")
