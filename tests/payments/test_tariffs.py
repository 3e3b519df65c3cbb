"""Pricing consumption under a tariff, explaining a bill, and the tier-ladder gauge.

Every figure below is worked out by hand in the comment next to it: kWh × unit price, rounded
half-up to the fen per line (docs/tariffs.md).
"""

import datetime
from decimal import Decimal

import pytest

from payments.models import BillLine, BillStatus, Tariff, TariffBand, TariffVersion
from payments.tariffs import (
    bill_explanation,
    charges_for,
    tariff_with_versions,
    tier_position,
    version_problems,
)
from tests.factories import BillFactory, ServiceAccountFactory

pytestmark = pytest.mark.django_db

D = Decimal
day = datetime.date


def tiered(code, period, limits, *prices):
    """A tiered tariff with one version per (effective date, base price)."""
    tariff = Tariff.objects.create(code=code, name=code, kind="tiered")
    for effective_from, price in prices:
        TariffVersion.objects.create(
            tariff=tariff,
            effective_from=effective_from,
            unit_price=D(price),
            tier_period=period,
            tier1_limit_kwh=D(limits[0]),
            tier2_limit_kwh=D(limits[1]),
        )
    return tariff_with_versions(code)


@pytest.fixture
def monthly():
    # 北京-style: 240 / 400 kWh a month; 0.4883 until 2025, 0.4983 from 2026.
    return tiered(
        "RES-TIER-M",
        "monthly",
        ("240", "400"),
        (day(2024, 1, 1), "0.4883"),
        (day(2026, 1, 1), "0.4983"),
    )


@pytest.fixture
def yearly():
    # 上海-style: 3120 / 4800 kWh a year; 0.617 until mid-2026, 0.627 from 2026-07-01.
    return tiered(
        "RES-TIER-Y",
        "yearly",
        ("3120", "4800"),
        (day(2024, 1, 1), "0.617"),
        (day(2026, 7, 1), "0.627"),
    )


@pytest.fixture
def time_of_use():
    tariff = Tariff.objects.create(code="HV-TOU-10KV", name="TOU", kind="time_of_use")
    version = TariffVersion.objects.create(tariff=tariff, effective_from=day(2024, 1, 1))
    for order, (code, label, price) in enumerate(
        [("peak", "峰", "1.05"), ("flat", "平", "0.65"), ("valley", "谷", "0.30")]
    ):
        TariffBand.objects.create(
            version=version, code=code, label=label, unit_price=D(price), sort_order=order
        )
    return tariff_with_versions("HV-TOU-10KV")


@pytest.fixture
def flat():
    tariff = Tariff.objects.create(code="LV-BIZ-FLAT", name="Flat", kind="flat")
    TariffVersion.objects.create(
        tariff=tariff, effective_from=day(2024, 1, 1), unit_price=D("0.65")
    )
    return tariff_with_versions("LV-BIZ-FLAT")


def summary(lines):
    return [(line.tier, line.kwh, line.unit_price, line.amount) for line in lines]


def versions(tariff):
    return list(tariff.versions.all())


# --- Tiers ---------------------------------------------------------------------------------------


def test_monthly_thresholds_price_the_month_up_the_ladder(monthly):
    lines = charges_for(
        versions=versions(monthly),
        period_start=day(2025, 9, 1),
        period_end=day(2025, 9, 30),
        kwh=D("450"),
    )

    assert summary(lines) == [
        (1, D("240"), D("0.4883"), D("117.19")),  # 240 × 0.4883 = 117.192
        (2, D("160"), D("0.5383"), D("86.13")),  # 160 × 0.5383 = 86.128
        (3, D("50"), D("0.7883"), D("39.42")),  # 50 × 0.7883 = 39.415, half-up
    ]
    assert sum(line.amount for line in lines) == D("242.74")


def test_monthly_thresholds_ignore_earlier_consumption(monthly):
    lines = charges_for(
        versions=versions(monthly),
        period_start=day(2025, 9, 1),
        period_end=day(2025, 9, 30),
        kwh=D("200"),
        prior_kwh=D("5000"),
    )

    assert summary(lines) == [(1, D("200"), D("0.4883"), D("97.66"))]  # 97.66


def test_yearly_thresholds_start_where_the_year_so_far_left_off(yearly):
    lines = charges_for(
        versions=versions(yearly),
        period_start=day(2025, 10, 1),
        period_end=day(2025, 10, 31),
        kwh=D("300"),
        prior_kwh=D("3000"),
    )

    assert summary(lines) == [
        (1, D("120"), D("0.617"), D("74.04")),  # 3000 → 3120: 120 × 0.617
        (2, D("180"), D("0.667"), D("120.06")),  # 3120 → 3300: 180 × 0.667
    ]


def test_yearly_thresholds_reach_the_third_tier(yearly):
    lines = charges_for(
        versions=versions(yearly),
        period_start=day(2025, 12, 1),
        period_end=day(2025, 12, 31),
        kwh=D("300"),
        prior_kwh=D("4700"),
    )

    assert summary(lines) == [
        (2, D("100"), D("0.667"), D("66.70")),  # 4700 → 4800
        (3, D("200"), D("0.917"), D("183.40")),  # 4800 → 5000: 200 × (0.617 + 0.30)
    ]


def test_a_monthly_period_across_a_price_change_splits_consumption_and_thresholds_by_days(
    monthly,
):
    # 2025-12-17 … 2026-01-15: 15 days at the old price, 15 at the new one. 300 kWh → 150 each;
    # thresholds 240 / 400 → 120 / 200 for each half.
    lines = charges_for(
        versions=versions(monthly),
        period_start=day(2025, 12, 17),
        period_end=day(2026, 1, 15),
        kwh=D("300"),
    )

    old, new = versions(monthly)
    assert [(line.version, *row) for line, row in zip(lines, summary(lines), strict=True)] == [
        (old, 1, D("120"), D("0.4883"), D("58.60")),  # 58.596
        (old, 2, D("30"), D("0.5383"), D("16.15")),  # 16.149
        (new, 1, D("120"), D("0.4983"), D("59.80")),  # 59.796
        (new, 2, D("30"), D("0.5483"), D("16.45")),  # 16.449
    ]
    assert sum(line.amount for line in lines) == D("151.00")


def test_an_uneven_split_still_adds_up_to_the_consumption(monthly):
    # 31 days: 16 old, 15 new. 310 kWh → 160.00 + 150.00; thresholds 240 × 16/31 = 123.87…
    lines = charges_for(
        versions=versions(monthly),
        period_start=day(2025, 12, 16),
        period_end=day(2026, 1, 15),
        kwh=D("310"),
    )

    assert sum(line.kwh for line in lines) == D("310")
    assert summary(lines) == [
        (1, D("123.87"), D("0.4883"), D("60.49")),  # 60.485721
        (2, D("36.13"), D("0.5383"), D("19.45")),  # 19.448779
        (1, D("116.13"), D("0.4983"), D("57.87")),  # 240 × 15/31 = 116.13; 57.867579
        (2, D("33.87"), D("0.5483"), D("18.57")),  # 18.570921
    ]


def test_a_yearly_period_across_a_price_change_keeps_climbing_the_same_ladder(yearly):
    # 2026-06-16 … 2026-07-15: 15 days at 0.617, 15 at 0.627. 300 kWh → 150 each; 3000 before.
    lines = charges_for(
        versions=versions(yearly),
        period_start=day(2026, 6, 16),
        period_end=day(2026, 7, 15),
        kwh=D("300"),
        prior_kwh=D("3000"),
    )

    assert summary(lines) == [
        (1, D("120"), D("0.617"), D("74.04")),  # 3000 → 3120 at the old price
        (2, D("30"), D("0.667"), D("20.01")),  # 3120 → 3150 at the old price
        (2, D("150"), D("0.677"), D("101.55")),  # 3150 → 3300 at the new price + 0.05
    ]


def test_a_yearly_ladder_starts_again_on_the_first_of_january(yearly):
    # 2025-12-17 … 2026-01-15: 150 kWh in 2025 (from 3100), 150 in 2026 (from 0).
    lines = charges_for(
        versions=versions(yearly),
        period_start=day(2025, 12, 17),
        period_end=day(2026, 1, 15),
        kwh=D("300"),
        prior_kwh=D("3100"),
    )

    assert summary(lines) == [
        (1, D("20"), D("0.617"), D("12.34")),  # 3100 → 3120
        (2, D("130"), D("0.667"), D("86.71")),  # 3120 → 3250
        (1, D("150"), D("0.617"), D("92.55")),  # 2026 starts at 0
    ]


def test_a_period_before_the_first_version_cannot_be_priced(monthly):
    assert (
        charges_for(
            versions=versions(monthly),
            period_start=day(2023, 12, 1),
            period_end=day(2023, 12, 31),
            kwh=D("100"),
        )
        is None
    )


# --- Time of use and flat ------------------------------------------------------------------------


def test_time_of_use_prices_each_band(time_of_use):
    lines = charges_for(
        versions=versions(time_of_use),
        period_start=day(2026, 9, 1),
        period_end=day(2026, 9, 30),
        kwh=D("4500"),
        band_kwh={"peak": D("1000"), "flat": D("2000"), "valley": D("1500")},
    )

    assert [(line.kind, line.label, line.kwh, line.amount) for line in lines] == [
        ("band", "峰", D("1000"), D("1050.00")),  # 1000 × 1.05
        ("band", "平", D("2000"), D("1300.00")),  # 2000 × 0.65
        ("band", "谷", D("1500"), D("450.00")),  # 1500 × 0.30
    ]


def test_time_of_use_without_kwh_per_band_cannot_be_priced(time_of_use):
    period = {"period_start": day(2026, 9, 1), "period_end": day(2026, 9, 30)}
    tou = versions(time_of_use)

    assert charges_for(versions=tou, kwh=D("4500"), **period) is None
    # Bands that do not add up to the consumption, or a band the tariff does not have.
    assert charges_for(versions=tou, kwh=D("4500"), band_kwh={"peak": D("1")}, **period) is None
    assert charges_for(versions=tou, kwh=D("1"), band_kwh={"sharp": D("1")}, **period) is None


def test_flat_is_consumption_times_the_price(flat):
    lines = charges_for(
        versions=versions(flat),
        period_start=day(2026, 9, 1),
        period_end=day(2026, 9, 30),
        kwh=D("1234.56"),
    )

    assert [(line.kind, line.kwh, line.amount) for line in lines] == [
        ("flat", D("1234.56"), D("802.46")),  # 1234.56 × 0.65 = 802.464
    ]


# --- Explaining a bill ---------------------------------------------------------------------------


def monthly_bill(**kwargs):
    account = ServiceAccountFactory(tariff_code="RES-TIER-M")
    values = {
        "account": account,
        "period_start": day(2025, 9, 1),
        "period_end": day(2025, 9, 30),
        "issue_date": day(2025, 10, 5),
        "due_date": day(2025, 10, 20),
        "kwh": D("450"),
        "amount": D("242.74"),
    }
    return BillFactory(**(values | kwargs))


def test_the_billing_systems_own_lines_are_shown_as_sent(monthly):
    bill = monthly_bill(amount=D("242.00"))
    BillLine.objects.create(
        bill=bill, position=1, kind="tier", label="第一档", kwh=D("450"),
        unit_price=D("0.5378"), amount=D("242.00"),
    )  # fmt: skip

    explanation = bill_explanation(bill)

    assert explanation.source == "billing"
    assert [(line.label, line.amount) for line in explanation.lines] == [("第一档", D("242.00"))]
    assert explanation.tariff == monthly
    assert [v.effective_from for v in explanation.versions] == [day(2024, 1, 1)]


def test_a_bill_without_lines_is_explained_by_recomputation_when_it_adds_up(monthly):
    explanation = bill_explanation(monthly_bill())

    assert explanation.source == "recomputed"
    assert [line.tier for line in explanation.lines] == [1, 2, 3]
    assert explanation.total == D("242.74")


def test_a_recomputation_one_fen_off_is_not_shown(monthly):
    explanation = bill_explanation(monthly_bill(amount=D("242.75")))

    assert explanation.source == "unavailable"
    assert explanation.lines == ()
    # The version in force is still true, and still shown.
    assert [v.effective_from for v in explanation.versions] == [day(2024, 1, 1)]


def test_a_bill_with_an_unknown_tariff_is_not_explained():
    bill = monthly_bill()
    bill.tariff_code = "LEGACY-R1"

    explanation = bill_explanation(bill)

    assert explanation.source == "unavailable"
    assert explanation.lines == ()
    assert explanation.tariff is None


def test_a_time_of_use_bill_without_lines_is_not_explained(time_of_use):
    account = ServiceAccountFactory(tariff_code="HV-TOU-10KV", customer_class="hv_single")
    bill = BillFactory(account=account, kwh=D("4500"), amount=D("2800.00"))

    assert bill_explanation(bill).source == "unavailable"


def test_a_yearly_bill_counts_the_years_earlier_bills_but_not_cancelled_ones(yearly):
    account = ServiceAccountFactory(tariff_code="RES-TIER-Y")

    def bill(month, kwh, amount, **kwargs):
        last = (day(2026, month + 1, 1) - datetime.timedelta(days=1)).day
        return BillFactory(
            account=account,
            period_start=day(2026, month, 1),
            period_end=day(2026, month, last),
            issue_date=day(2026, month + 1, 5),
            due_date=day(2026, month + 1, 20),
            kwh=D(kwh),
            amount=D(amount),
            **kwargs,
        )

    BillFactory(  # last year's consumption does not count in 2026
        account=account,
        period_start=day(2025, 12, 1),
        period_end=day(2025, 12, 31),
        issue_date=day(2026, 1, 5),
        due_date=day(2026, 1, 20),
        kwh=D("5000"),
        amount=D("3085.00"),
    )
    bill(1, "2000", "1234.00")
    bill(2, "1000", "617.00")
    cancelled = bill(3, "900", "555.30")
    cancelled.status = BillStatus.CANCELLED
    cancelled.save()
    # 3000 kWh before April: 120 × 0.617 = 74.04 and 180 × 0.667 = 120.06.
    april = bill(4, "300", "194.10")

    explanation = bill_explanation(april)

    assert explanation.source == "recomputed"
    assert [(line.tier, line.kwh) for line in explanation.lines] == [(1, 120), (2, 180)]


# --- The tier ladder gauge -----------------------------------------------------------------------


def test_tier_position_forecasts_the_day_the_next_tier_starts(yearly):
    account = ServiceAccountFactory(tariff_code="RES-TIER-Y")
    BillFactory(
        account=account,
        period_start=day(2026, 1, 1),
        period_end=day(2026, 3, 31),
        issue_date=day(2026, 4, 5),
        due_date=day(2026, 4, 20),
        kwh=D("900"),
    )

    position = tier_position(account=account, as_of=day(2026, 4, 10))

    assert position.period_start == day(2026, 1, 1)
    assert position.period_end == day(2026, 12, 31)
    assert position.used_kwh == D("900")
    assert position.billed_until == day(2026, 3, 31)
    assert position.thresholds == (D("3120"), D("4800"))
    assert position.tier == 1
    assert position.left_in_tier_kwh == D("2220")
    # 900 kWh over 90 days: 10 a day. 2220 kWh left: after 222 more days (8 November) the total
    # is exactly 3120, still tier 1; on the 223rd day, 9 November, it passes into tier 2.
    assert position.pace_kwh_per_day == D("10")
    assert position.crossing_date == day(2026, 11, 9)


def test_a_monthly_ladder_with_no_bill_yet_uses_the_last_bills_pace(monthly):
    account = ServiceAccountFactory(tariff_code="RES-TIER-M")
    BillFactory(account=account, kwh=D("300"))  # September 2026: 10 kWh a day

    position = tier_position(account=account, as_of=day(2026, 10, 12))

    assert (position.period_start, position.period_end) == (day(2026, 10, 1), day(2026, 10, 31))
    assert position.used_kwh == 0
    assert position.billed_until is None
    assert position.pace_from_earlier_bill
    # 240 kWh at 10 a day: 240 by the end of the 24th, past it on 25 October.
    assert position.crossing_date == day(2026, 10, 25)


def test_no_forecast_in_the_third_tier_or_past_the_end_of_the_period(yearly):
    account = ServiceAccountFactory(tariff_code="RES-TIER-Y")
    BillFactory(
        account=account,
        period_start=day(2026, 1, 1),
        period_end=day(2026, 1, 31),
        kwh=D("5000"),
    )
    third = tier_position(account=account, as_of=day(2026, 2, 10))
    assert (third.tier, third.left_in_tier_kwh, third.crossing_date) == (3, None, None)

    slow = ServiceAccountFactory(tariff_code="RES-TIER-Y")
    BillFactory(
        account=slow, period_start=day(2026, 1, 1), period_end=day(2026, 1, 31), kwh=D("31")
    )
    position = tier_position(account=slow, as_of=day(2026, 2, 10))
    assert position.pace_kwh_per_day == 1
    assert position.crossing_date is None  # 3089 days to go: the year ends first


def test_no_tier_position_for_a_tariff_without_tiers(flat):
    account = ServiceAccountFactory(tariff_code="LV-BIZ-FLAT", customer_class="lv_business")

    assert tier_position(account=account, as_of=day(2026, 10, 1)) is None


# --- What a version needs ----------------------------------------------------------------------


def test_each_kind_of_version_names_what_it_lacks():
    empty = {
        "unit_price": None,
        "tier_period": "",
        "tier1_limit_kwh": None,
        "tier2_limit_kwh": None,
    }

    assert set(version_problems(kind="tiered", bands=0, **empty)) == {
        "unit_price",
        "tier_period",
        "tier1_limit_kwh",
        "tier2_limit_kwh",
    }
    assert set(version_problems(kind="flat", bands=1, **empty)) == {"unit_price", "bands"}
    assert set(version_problems(kind="time_of_use", bands=0, **empty)) == {"bands"}
    assert version_problems(kind="time_of_use", bands=3, **empty) == {}
    descending = empty | {
        "unit_price": D("0.5"),
        "tier_period": "monthly",
        "tier1_limit_kwh": D("400"),
        "tier2_limit_kwh": D("240"),
    }
    assert set(version_problems(kind="tiered", bands=0, **descending)) == {"tier2_limit_kwh"}
