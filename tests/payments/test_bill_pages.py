"""What a customer sees of their bills: the lists, a bill explained to the fen, the penalty day
by day, the arrears timeline, usage, and the dashboard's amounts.

Dates are set relative to today in Asia/Shanghai (payments.calendar.business_today), the day
the pages count the penalty to, so the figures below hold whenever the tests run.
"""

import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from payments.models import (
    BillLine,
    BillRevision,
    BillStatus,
    RevisionKind,
    Tariff,
    TariffKind,
    TariffVersion,
    TierPeriod,
)
from portal.core import clock
from tests.factories import (
    BillFactory,
    BindingFactory,
    MemberScopeFactory,
    MembershipFactory,
    OrgBindingFactory,
    ServiceAccountFactory,
    UserFactory,
    pay,
)

pytestmark = pytest.mark.django_db

# Each page's budget: measured, plus a little room. A signed-in request alone costs 3 (session,
# user, the header's memberships; "last seen" is written at most every few minutes,
# portal.middleware.UserSessionActivityMiddleware); a list then adds 5 (binding, count, page,
# payments, penalty rules), the dashboard 5, a bill 10 (with its tariff, versions and bands for
# the explanation). None grows with the number of rows.
LIST_QUERY_BUDGET = 10
DETAIL_QUERY_BUDGET = 15
DASHBOARD_QUERY_BUDGET = 10


def today() -> date:
    return clock.today()


def page_text(response) -> str:
    """The page's visible text, tags removed and spaces collapsed, as a reader sees it."""
    assert response.status_code == 200
    html = response.content.decode()
    html = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def get(client, url, **params):
    return client.get(url, params, HTTP_ACCEPT_LANGUAGE="en")


def with_lines(bill, lines):
    """The billing system's own lines for ``bill``: (label, kWh, unit price, amount)."""
    for position, (label, kwh, unit_price, amount) in enumerate(lines, start=1):
        BillLine.objects.create(
            bill=bill,
            position=position,
            kind="tier",
            label=label,
            kwh=Decimal(kwh),
            unit_price=Decimal(unit_price),
            amount=Decimal(amount),
        )
    return bill


@pytest.fixture
def binding():
    """A residential customer's own account."""
    return BindingFactory(label="家", account=ServiceAccountFactory(number="3100000501"))


@pytest.fixture
def overdue_bill(binding):
    """Due ten days ago, unpaid: 10 days × 0.1 % × ¥102.50 = ¥1.025 exactly → ¥1.03."""
    due = today() - timedelta(days=10)
    bill = BillFactory(
        number="B-OVERDUE-1",
        account=binding.account,
        period_start=(due - timedelta(days=40)).replace(day=1),
        period_end=due - timedelta(days=20),
        issue_date=due - timedelta(days=15),
        due_date=due,
        kwh=Decimal("200.00"),
        amount=Decimal("102.50"),
    )
    return with_lines(
        bill, [("第一档", "150.00", "0.500000", "75.00"), ("第二档", "50.00", "0.550000", "27.50")]
    )


def bill_url(bill):
    return reverse("bills:detail", kwargs={"bill": bill.uuid})


# --- The bill explained -------------------------------------------------------------------------
def test_bill_page_shows_each_line_the_amount_and_the_penalty_to_the_fen(
    client, binding, overdue_bill
):
    client.force_login(binding.user)

    text = page_text(get(client, bill_url(overdue_bill)))

    assert "B-OVERDUE-1" in text
    assert "第一档 150 kWh × 0.50 ¥75.00" in text
    assert "第二档 50 kWh × 0.55 ¥27.50" in text
    assert "Bill amount 200 kWh ¥102.50" in text
    assert "The lines are the billing system's own." in text
    # The penalty: one span of ten days on the whole amount at 0.1 %, summed exactly.
    assert "residential customers the penalty is 0.1% of the amount still unpaid" in text
    assert "10 days ¥102.50 0.1% ¥1.025" in text
    assert "Exact sum ¥1.025" in text
    assert "Rounded to the fen ¥1.03" in text
    assert "minimum applies" not in text
    assert f"Owed on {today():%Y-%m-%d} ¥103.53" in text


def test_a_bill_without_lines_that_cannot_be_rebuilt_says_its_breakdown_is_unavailable(
    client, binding
):
    bill = BillFactory(account=binding.account, tariff_code="NO-SUCH-TARIFF", amount=Decimal("88"))
    client.force_login(binding.user)

    text = page_text(get(client, bill_url(bill)))

    assert "A breakdown of this bill is not available." in text
    assert "The billing system's amount, ¥88.00, stands." in text
    assert "Consumption and price per tier or band" not in text


def test_a_bill_without_lines_is_explained_from_the_tariff_when_it_adds_up_exactly(client, binding):
    tariff = Tariff.objects.create(code="LV-FLAT-T", name="一般工商业", kind=TariffKind.FLAT)
    TariffVersion.objects.create(
        tariff=tariff, effective_from=date(2020, 1, 1), unit_price=Decimal("0.650000")
    )
    bill = BillFactory(
        account=binding.account, tariff_code="LV-FLAT-T", kwh=Decimal("300"), amount=Decimal("195")
    )
    client.force_login(binding.user)

    text = page_text(get(client, bill_url(bill)))

    assert "300 kWh × 0.65 ¥195.00" in text
    assert "we worked these lines out from the tariff" in text
    assert "Prices in force from 2020-01-01" in text


def test_tiered_prices_and_the_version_dates_are_shown(client, binding):
    tariff = Tariff.objects.create(code="RES-T", name="居民阶梯", kind=TariffKind.TIERED)
    TariffVersion.objects.create(
        tariff=tariff,
        effective_from=date(2012, 7, 1),
        unit_price=Decimal("0.4883"),
        tier_period=TierPeriod.MONTHLY,
        tier1_limit_kwh=Decimal("240"),
        tier2_limit_kwh=Decimal("400"),
        source="京发改〔2012〕1号",
    )
    # 240 × 0.4883 = 117.192 → 117.19; 60 × 0.5383 = 32.298 → 32.30: ¥149.49.
    bill = BillFactory(
        account=binding.account, tariff_code="RES-T", kwh=Decimal("300"), amount=Decimal("149.49")
    )
    client.force_login(binding.user)

    text = page_text(get(client, bill_url(bill)))

    assert "Tier 1 240 kWh × 0.4883 ¥117.19" in text
    assert "Tier 2 60 kWh × 0.5383 ¥32.30" in text
    assert "Prices in force from 2012-07-01 · 京发改〔2012〕1号" in text
    assert "0.4883 yuan/kWh up to 240 kWh, +0.05 up to 400 kWh, +0.30 above" in text


# Half an hour into the new year in Beijing; still 31 December in UTC.
@pytest.mark.time_machine(datetime(2027, 1, 1, 0, 30, tzinfo=clock.BUSINESS_TIME_ZONE), tick=False)
def test_a_business_penalty_across_new_year_shows_both_rates(client):
    binding = BindingFactory(account=ServiceAccountFactory(customer_class="lv_business"))
    bill = BillFactory(
        account=binding.account,
        period_start=date(2026, 11, 1),
        period_end=date(2026, 11, 30),
        issue_date=date(2026, 12, 5),
        due_date=date(2026, 12, 20),
        amount=Decimal("1000.00"),
    )
    client.force_login(binding.user)

    text = page_text(get(client, bill_url(bill)))

    assert "0.2% of the amount still unpaid for each day in 2026" in text
    assert "2026-12-21 – 2026-12-31 11 days ¥1,000.00 0.2% ¥22.00" in text
    assert "2027-01-01 1 day · a later year: higher rate ¥1,000.00 0.3% ¥3.00" in text
    assert "¥1,025.00" in text


def test_the_minimum_penalty_is_shown_as_applied(client, binding):
    due = today() - timedelta(days=2)
    bill = BillFactory(
        account=binding.account,
        period_start=due - timedelta(days=45),
        period_end=due - timedelta(days=15),
        issue_date=due - timedelta(days=10),
        due_date=due,
        amount=Decimal("50.00"),
    )
    client.force_login(binding.user)

    text = page_text(get(client, bill_url(bill)))

    # 2 days × 0.1 % × ¥50 = ¥0.10, under the 1-yuan minimum.
    assert "Exact sum ¥0.10" in text
    assert "Less than the minimum: the minimum applies ¥1.00" in text
    assert f"Owed on {today():%Y-%m-%d} ¥51.00" in text


def test_a_bill_not_yet_due_has_no_penalty_and_says_when_one_would_start(client, binding):
    due = today() + timedelta(days=5)
    bill = BillFactory(
        account=binding.account,
        period_start=due - timedelta(days=40),
        period_end=due - timedelta(days=10),
        issue_date=due - timedelta(days=8),
        due_date=due,
    )
    client.force_login(binding.user)

    text = page_text(get(client, bill_url(bill)))

    assert f"Pay by {due:%Y-%m-%d} and no penalty is added." in text
    assert f"accrues a penalty from {due + timedelta(days=1):%Y-%m-%d}" in text
    assert "what happens next" not in text


def test_payments_received_are_listed_and_stop_the_penalty(client, binding, overdue_bill):
    paid_on = overdue_bill.due_date + timedelta(days=4)
    pay(overdue_bill, "40.00", paid_on, channel="bank_debit", reference="BANK-778")
    pay(overdue_bill, "62.50", paid_on + timedelta(days=2), channel="counter", reference="CTR-9")
    client.force_login(binding.user)

    text = page_text(get(client, bill_url(overdue_bill)))

    assert f"{paid_on:%Y-%m-%d} Bank direct debit BANK-778 ¥40.00 ¥40.00 towards the bill" in text
    assert "At a service counter CTR-9 ¥62.50 ¥62.50 towards the bill" in text
    # Penalty: 4 days on ¥102.50 (0.41), 2 days on ¥62.50 (0.125): ¥0.535 → minimum ¥1.00,
    # charged on the day the amount was settled; nothing accrues after it.
    assert "4 days ¥102.50 0.1% ¥0.41" in text
    assert "2 days ¥62.50 0.1% ¥0.125" in text
    assert "Exact sum ¥0.535" in text
    settled = paid_on + timedelta(days=2)
    assert (
        f"The amount was paid in full on {settled:%Y-%m-%d}: the penalty stopped that day." in text
    )
    assert f"Owed on {today():%Y-%m-%d} ¥1.00" in text
    assert "what happens next" not in text


def test_a_paid_bill_shows_nothing_owed(client, binding, overdue_bill):
    pay(overdue_bill, "102.50", overdue_bill.due_date)
    client.force_login(binding.user)

    text = page_text(get(client, bill_url(overdue_bill)))

    assert "No penalty: the bill was paid on time." in text
    assert f"Owed on {today():%Y-%m-%d} ¥0.00" in text
    assert "Paid" in text


def test_a_revision_is_shown(client, binding, overdue_bill):
    BillRevision.objects.create(
        bill=overdue_bill,
        kind=RevisionKind.REPLACED,
        old_amount=Decimal("120.00"),
        new_amount=Decimal("102.50"),
        old_kwh=Decimal("230"),
        new_kwh=Decimal("200"),
        source="bills-2026-10.csv",
    )
    client.force_login(binding.user)

    text = page_text(get(client, bill_url(overdue_bill)))

    assert "Changes to this bill" in text
    assert "Replaced before payment · bills-2026-10.csv ¥120.00 → ¥102.50 230 → 200 kWh" in text


# --- The arrears timeline -----------------------------------------------------------------------
def test_an_overdue_bill_shows_the_arrears_timeline(client, binding, overdue_bill):
    client.force_login(binding.user)

    text = page_text(get(client, bill_url(overdue_bill)))

    due = overdue_bill.due_date
    notice = due + timedelta(days=1)
    assert "This bill is overdue: what happens next" in text
    assert f"{due:%Y-%m-%d} Due date The last day to pay without a penalty." in text
    assert "So far: ¥1.03 for 10 days." in text
    assert f"From {notice:%Y-%m-%d} A notice of suspension may be served" in text
    assert "no earlier than 7 days after it is served" in text
    assert f"not before {notice + timedelta(days=7):%Y-%m-%d} at the very earliest" in text
    assert "This page is not a notice" in text
    assert "Paying ¥103.53 today settles this bill" in text
    assert "The penalty stops accruing on the day of payment" in text
    assert "Each day it stays unpaid adds about ¥0.10." in text


# --- Who may see a bill -------------------------------------------------------------------------
def test_another_persons_bill_is_not_found(client, overdue_bill):
    client.force_login(UserFactory())

    assert client.get(bill_url(overdue_bill)).status_code == 404


def test_a_bill_of_an_account_the_person_unbound_is_not_found(client, binding, overdue_bill):

    binding.ended_at = clock.now()
    binding.save()
    client.force_login(binding.user)

    assert client.get(bill_url(overdue_bill)).status_code == 404


def test_an_organisation_member_sees_a_bill_only_with_the_view_scope(client):
    member = MembershipFactory()
    shared = MemberScopeFactory(membership=member).binding
    other = OrgBindingFactory(organisation=member.organisation)
    seen, unseen = BillFactory(account=shared.account), BillFactory(account=other.account)
    client.force_login(member.user)

    response = get(client, bill_url(seen))
    assert response.status_code == 200
    assert f"?account={shared.account.number}" in response.content.decode()
    assert client.get(bill_url(unseen)).status_code == 404


def test_a_member_of_another_organisation_gets_not_found(client):
    bill = BillFactory(account=OrgBindingFactory().account)
    client.force_login(MembershipFactory(role="admin").user)

    assert client.get(bill_url(bill)).status_code == 404


def test_someone_elses_account_bills_and_usage_are_not_found(client, binding):
    client.force_login(UserFactory())

    for name in ("me:account_bills", "me:usage"):
        assert client.get(reverse(name, kwargs={"binding": binding.uuid})).status_code == 404


# --- The lists ----------------------------------------------------------------------------------
def monthly_bills(account, count, *, last_month: date, amount="100.00"):
    """``count`` monthly bills ending with ``last_month``, each due on the 20th of the next."""
    bills = []
    for i in range(count):
        index = last_month.year * 12 + last_month.month - 1 - i
        start = date(index // 12, index % 12 + 1, 1)
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        bills.append(
            BillFactory(
                number=f"M{account.number}-{start:%Y%m}",
                account=account,
                period_start=start,
                period_end=end,
                issue_date=end + timedelta(days=5),
                due_date=end + timedelta(days=20),
                kwh=Decimal(150 + i),
                amount=Decimal(amount) + i,
            )
        )
    return bills


def numbers_on(response) -> list[str]:
    """The bill numbers in the page's table, in order (read from the HTML: the table may come
    from the per-person fragment cache, rendered by an earlier request)."""
    assert response.status_code == 200
    return re.findall(
        r'<th scope="row" class="bill-table__number"><a href="[^"]*">([^<]+)</a>',
        response.content.decode(),
    )


def test_account_bill_list_shows_amounts_status_and_what_is_owed_today(
    client, binding, overdue_bill
):
    paid = BillFactory(account=binding.account, number="B-PAID-1", amount=Decimal("80"))
    pay(paid, "80.00", paid.due_date)
    client.force_login(binding.user)

    response = get(client, reverse("me:account_bills", kwargs={"binding": binding.uuid}))

    text = page_text(response)
    assert numbers_on(response) == ["B-OVERDUE-1", "B-PAID-1"]
    assert "B-OVERDUE-1" in text and "200 kWh ¥102.50" in text
    assert "Overdue ¥103.53 incl. penalty ¥1.03" in text
    assert "B-PAID-1" in text and "Paid —" in text


def test_my_bills_lists_every_own_account_and_filters_by_account(client):
    user = UserFactory()
    home = BindingFactory(user=user, label="家")
    parents = BindingFactory(user=user, label="父母家")
    BillFactory(account=home.account, number="B-HOME")
    BillFactory(account=parents.account, number="B-PARENTS")
    BillFactory(number="B-SOMEONE-ELSE")
    client.force_login(user)

    assert sorted(numbers_on(get(client, reverse("me:bills")))) == ["B-HOME", "B-PARENTS"]
    assert numbers_on(get(client, reverse("me:bills"), account=str(parents.uuid))) == ["B-PARENTS"]
    # Another person's binding in the filter selects nothing of theirs.
    stranger = BindingFactory()
    BillFactory(account=stranger.account, number="B-STRANGER")
    response = get(client, reverse("me:bills"), account=str(stranger.uuid))
    assert "B-STRANGER" not in numbers_on(response)


def test_bill_list_filters_by_year_month_and_status(client, binding):
    bills = monthly_bills(binding.account, 14, last_month=date(2026, 8, 1))
    pay(bills[0], bills[0].amount, bills[0].due_date)  # August 2026 paid
    client.force_login(binding.user)
    url = reverse("me:account_bills", kwargs={"binding": binding.uuid})

    assert len(numbers_on(get(client, url, period="2025"))) == 6  # July to December 2025
    assert numbers_on(get(client, url, period="2026-03")) == [f"M{binding.account.number}-202603"]
    assert numbers_on(get(client, url, status="paid")) == [f"M{binding.account.number}-202608"]
    assert len(numbers_on(get(client, url, status="overdue"))) == 13
    # A malformed filter is ignored (and reported), not an error page.
    response = get(client, url, period="2026-13")
    assert len(numbers_on(response)) == 14
    assert "Enter a year (2026) or a month (2026-09)." in response.content.decode()


def test_bill_list_pages_hold_25_bills(client, binding):
    monthly_bills(binding.account, 30, last_month=date(2026, 10, 1))
    client.force_login(binding.user)
    url = reverse("me:account_bills", kwargs={"binding": binding.uuid})

    first, second = numbers_on(get(client, url)), numbers_on(get(client, url, page=2))

    assert len(first) == 25 and len(second) == 5
    assert not set(first) & set(second)


def test_bill_list_and_detail_cost_a_bounded_number_of_queries(
    client, binding, django_assert_max_num_queries
):
    tariff = Tariff.objects.create(
        code=binding.account.tariff_code, name="居民阶梯", kind=TariffKind.TIERED
    )
    for year in (2020, 2025):
        TariffVersion.objects.create(
            tariff=tariff,
            effective_from=date(year, 1, 1),
            unit_price=Decimal("0.4883"),
            tier_period=TierPeriod.MONTHLY,
            tier1_limit_kwh=Decimal("240"),
            tier2_limit_kwh=Decimal("400"),
        )
    bills = monthly_bills(binding.account, 30, last_month=date(2026, 10, 1))
    for bill in bills[5:20]:
        pay(bill, "30.00", bill.due_date + timedelta(days=3))
    client.force_login(binding.user)
    client.get(reverse("me:dashboard"))  # the session's first request records the device

    with django_assert_max_num_queries(LIST_QUERY_BUDGET):
        response = get(client, reverse("me:account_bills", kwargs={"binding": binding.uuid}))
    assert len(numbers_on(response)) == 25
    with django_assert_max_num_queries(LIST_QUERY_BUDGET):
        assert len(numbers_on(get(client, reverse("me:bills")))) == 25
    with django_assert_max_num_queries(DETAIL_QUERY_BUDGET):
        assert get(client, bill_url(bills[6])).status_code == 200


# --- The dashboard ------------------------------------------------------------------------------
def test_dashboard_cards_show_the_amount_owed_the_latest_bill_and_the_next_due_date(
    client, binding, overdue_bill
):
    later = BillFactory(
        account=binding.account,
        number="B-LATER",
        period_start=overdue_bill.period_end + timedelta(days=1),
        period_end=overdue_bill.period_end + timedelta(days=30),
        issue_date=today(),
        due_date=today() + timedelta(days=15),
        amount=Decimal("60.00"),
    )
    client.force_login(binding.user)

    response = get(client, reverse("me:dashboard"))

    text = page_text(response)
    # ¥103.53 on the overdue bill (with its penalty) + ¥60.00 not yet due.
    assert "Amount owed ¥163.53 Overdue" in text
    assert f"{later.period_end:%Y-%m}: ¥60.00" in text
    assert f"was {overdue_bill.due_date:%Y-%m-%d}" in text
    page = response.content.decode()
    assert f'href="{bill_url(later)}"' in page
    assert reverse("me:account_bills", kwargs={"binding": binding.uuid}) in page
    assert reverse("me:usage", kwargs={"binding": binding.uuid}) in page


def test_dashboard_costs_the_same_queries_for_one_account_or_eight(
    client, django_assert_max_num_queries
):
    user = UserFactory()
    for i in range(8):
        account = BindingFactory(user=user).account
        monthly_bills(account, 3, last_month=date(2026, 9, 1))
        if i % 2:
            BillFactory(account=account, due_date=today() + timedelta(days=9))
    client.force_login(user)
    client.get(reverse("me:dashboard"))

    with django_assert_max_num_queries(DASHBOARD_QUERY_BUDGET):
        response = get(client, reverse("me:dashboard"))
    assert len(response.context["cards"]) == 8
    assert all(card.amount_owed > 0 and card.latest_bill for card in response.context["cards"])


# --- Usage --------------------------------------------------------------------------------------
def test_usage_page_draws_24_months_with_the_same_figures_in_a_table(client, binding):
    monthly_bills(binding.account, 30, last_month=date(2026, 10, 1))
    cancelled = BillFactory(
        account=binding.account,
        number="B-CANCELLED",
        period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31),
        kwh=Decimal("999"),
    )
    cancelled.status = BillStatus.CANCELLED  # as the ledger would say after a cancellation
    cancelled.save()
    client.force_login(binding.user)

    response = get(client, reverse("me:usage", kwargs={"binding": binding.uuid}))

    page = response.content.decode()
    assert response.status_code == 200
    svg = re.search(r"<svg class=\"usage-chart\".*?</svg>", page, re.DOTALL).group(0)
    assert svg.count("<rect") == 24
    assert 'role="img"' in svg and "<title" in svg
    assert "https://" not in page.split("</header>", 1)[1].split("<footer", 1)[0]
    text = page_text(response)
    # The table: newest first; October 2026 is the 1st bill (150 kWh, ¥100), the cancelled one
    # is left out; November 2024 is the 24th.
    assert "2026-10 150 kWh ¥100.00" in text
    assert "2024-11 173 kWh ¥123.00" in text
    assert "2024-10" not in text
    assert "999 kWh" not in text


def yearly_tier_binding():
    """An account on a yearly ladder: 2,880 and 4,800 kWh a calendar year (Beijing's)."""
    tariff = Tariff.objects.create(code="RES-Y", name="居民阶梯（年度）", kind=TariffKind.TIERED)
    TariffVersion.objects.create(
        tariff=tariff,
        effective_from=date(2012, 7, 1),
        unit_price=Decimal("0.4883"),
        tier_period=TierPeriod.YEARLY,
        tier1_limit_kwh=Decimal("2880"),
        tier2_limit_kwh=Decimal("4800"),
    )
    return BindingFactory(account=ServiceAccountFactory(tariff_code="RES-Y"))


def month_bill(binding, first: date, kwh: str):
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return BillFactory(
        account=binding.account,
        period_start=first,
        period_end=last,
        kwh=Decimal(kwh),
        amount=(Decimal(kwh) * Decimal("0.4883")).quantize(Decimal("0.01")),
        issue_date=last + timedelta(days=1),
        due_date=last + timedelta(days=15),
    )


@pytest.mark.time_machine(datetime(2026, 3, 10, 9, tzinfo=clock.BUSINESS_TIME_ZONE), tick=False)
def test_usage_page_shows_the_tier_gauge_for_a_tiered_tariff(client):
    binding = yearly_tier_binding()
    month_bill(binding, date(2026, 1, 1), "310")
    client.force_login(binding.user)

    text = page_text(get(client, reverse("me:usage", kwargs={"binding": binding.uuid})))

    assert "Your tier this year (2026)" in text
    assert "310 kWh used so far: tier 1 ." in text
    assert "2,570 kWh left before tier 2." in text
    assert "up to 2,880 kWh 0.4883" in text
    assert "10 kWh a day" in text


@pytest.mark.time_machine(datetime(2027, 1, 2, 0, 30, tzinfo=clock.BUSINESS_TIME_ZONE), tick=False)
def test_a_yearly_tier_starts_again_on_the_first_of_january(client):
    binding = yearly_tier_binding()
    for month in (10, 11, 12):
        month_bill(binding, date(2026, month, 1), "310")
    client.force_login(binding.user)

    text = page_text(get(client, reverse("me:usage", kwargs={"binding": binding.uuid})))

    # 00:30 on 2 January in Beijing (still 1 January in UTC): 2027's ladder, nothing used on it
    # yet, December's pace carried forward.
    assert "Your tier this year (2027)" in text
    assert "0 kWh used so far: tier 1 ." in text
    assert "2,880 kWh left before tier 2." in text
    assert "10 kWh a day (from your latest bill)" in text
    assert "At this pace you reach tier 2 around 2027-10-16." in text


def test_usage_without_bills_says_the_chart_comes_with_the_first_bill(client, binding):
    client.force_login(binding.user)

    text = page_text(get(client, reverse("me:usage", kwargs={"binding": binding.uuid})))

    assert "the chart appears with the first bill" in text
