"""The late-payment penalty (电费违约金), checked against cases worked out by hand.

Every expected figure below was computed by hand from the rules in issue #4 and DOMAIN.md, not by
running ``penalty_for``: the working is in the comment next to each case. The rules, in short:

- the penalty accrues for each day from the day after the due date (or a contract's own start
  date) through the day of payment, on the amount still unpaid when that day began;
- residential customers 0.1 % a day; other customers 0.2 % a day for days in the due date's
  calendar year and 0.3 % for days in any later year (1996 rule, 供电营业规则 第九十八条);
- each day uses the rule in force that day;
- the exact sum is rounded half-up to the fen once; a total under the minimum (1 yuan in 1996) is
  charged as the minimum if any day accrued.

Most cases pass ``rules=`` explicitly (no database); a few use the rules in the database, where
migration 0003 has loaded the 1996 rule.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.models import PenaltyRule
from payments.penalties import PenaltyUnknown, penalty_for

D = Decimal


@dataclass(frozen=True)
class Rule:
    """An in-memory penalty rule: what ``penalty_for`` reads from ``PenaltyRule``."""

    effective_from: date
    residential_rate: Decimal
    current_year_rate: Decimal
    earlier_year_rate: Decimal
    minimum_total: Decimal


# 供电营业规则 (1996) 第九十八条, as migration 0003 loads it.
RULE_1996 = Rule(date(1996, 10, 8), D("0.001"), D("0.002"), D("0.003"), D("1.00"))
# A made-up later rule with half the rates and no minimum, to check that each day uses the rule in
# force that day. Not a real rule.
HALF_RATES_2026_11 = Rule(date(2026, 11, 1), D("0.0005"), D("0.001"), D("0.0015"), D("0.00"))


@dataclass(frozen=True)
class Case:
    customer_class: str
    amount: str
    due: date
    as_of: date
    total: str
    """The expected total, as the string it prints as (so 2 decimal places are checked too)."""
    days: int
    """How many days accrued."""
    payments: tuple[tuple[date, str], ...] = ()
    start_date: date | None = None
    rules: tuple[Rule, ...] = (RULE_1996,)
    minimum_applied: bool = False


def case(case_id: str, **kwargs) -> pytest.param:
    return pytest.param(Case(**kwargs), id=case_id)


RES, LV, HV1, HV2 = "residential", "lv_business", "hv_single", "hv_dual"
OCT20 = date(2026, 10, 20)

# A table: one case per entry, kept compact.
# fmt: off
CASES = [
    # --- Residential: 0.1 % a day, whatever the year -------------------------------------------
    # Paid on the due date: no day has started accruing.
    case("residential paid on the due date", customer_class=RES, amount="1000.00", due=OCT20,
         as_of=OCT20, total="0.00", days=0),
    # Oct 21 only: 1 day × 1000 × 0.1 % = 1.00 (exactly the minimum, so it is not "applied").
    case("residential paid the next day", customer_class=RES, amount="1000.00", due=OCT20,
         as_of=date(2026, 10, 21), total="1.00", days=1),
    # Oct 21..30: 10 days × 1000 × 0.1 % = 10 × 1.00 = 10.00.
    case("residential ten days late", customer_class=RES, amount="1000.00", due=OCT20,
         as_of=date(2026, 10, 30), total="10.00", days=10),
    # Dec 31, Jan 1, Jan 2: 3 days × 1.00 = 3.00; residential has no later-year rate.
    case("residential across a year boundary", customer_class=RES, amount="1000.00",
         due=date(2026, 12, 30), as_of=date(2027, 1, 2), total="3.00", days=3),
    # Due Dec 31: Jan 1..3 = 3 days × 1.00 = 3.00.
    case("residential due on december 31", customer_class=RES, amount="1000.00",
         due=date(2026, 12, 31), as_of=date(2027, 1, 3), total="3.00", days=3),
    # Feb 28, Feb 29 (2028 is a leap year), Mar 1: 3 days × 1.00 = 3.00.
    case("residential over the leap day", customer_class=RES, amount="1000.00",
         due=date(2028, 2, 27), as_of=date(2028, 3, 1), total="3.00", days=3),
    # The same dates in 2027, no Feb 29: Feb 28, Mar 1 = 2 days × 1.00 = 2.00.
    case("residential over february in a common year", customer_class=RES, amount="1000.00",
         due=date(2027, 2, 27), as_of=date(2027, 3, 1), total="2.00", days=2),
    # --- Other customers: 0.2 % in the due date's year, 0.3 % in later years -------------------
    # Oct 21..23: 3 days × 1000 × 0.2 % = 3 × 2.00 = 6.00.
    case("lv_business three days late", customer_class=LV, amount="1000.00", due=OCT20,
         as_of=date(2026, 10, 23), total="6.00", days=3),
    # Nov 16..30 (15) + Dec 1..15 (15) = 30 days × 5000 × 0.2 % = 30 × 10.00 = 300.00.
    case("hv_single thirty days late", customer_class=HV1, amount="5000.00",
         due=date(2026, 11, 15), as_of=date(2026, 12, 15), total="300.00", days=30),
    # Dec 21..31: 11 days × 2000 × 0.2 % = 11 × 4.00 = 44.00;
    # Jan 1..5: 5 days × 2000 × 0.3 % = 5 × 6.00 = 30.00; total 74.00.
    case("hv_dual across a year boundary", customer_class=HV2, amount="2000.00",
         due=date(2026, 12, 20), as_of=date(2027, 1, 5), total="74.00", days=16),
    # Due Dec 31: every day is in a later year. Jan 1..3: 3 × 1000 × 0.3 % = 3 × 3.00 = 9.00.
    case("lv_business due on december 31", customer_class=LV, amount="1000.00",
         due=date(2026, 12, 31), as_of=date(2027, 1, 3), total="9.00", days=3),
    # Dec 31 2026: 1 × 2.00 = 2.00; all of 2027: 365 × 3.00 = 1095.00; Jan 1 2028: 1 × 3.00 = 3.00;
    # 2 + 1095 + 3 = 1100.00 over 1 + 365 + 1 = 367 days (0.3 % in any later year, not only the
    # next one).
    case("hv_single over two year boundaries", customer_class=HV1, amount="1000.00",
         due=date(2026, 12, 30), as_of=date(2028, 1, 1), total="1100.00", days=367),
    # Feb 29, Mar 1, Mar 2 2028: 3 days × 500 × 0.2 % = 3 × 1.00 = 3.00.
    case("lv_business over the leap day", customer_class=LV, amount="500.00",
         due=date(2028, 2, 28), as_of=date(2028, 3, 2), total="3.00", days=3),
    # Due Dec 31 2027, paid Dec 31 2028: all 366 days of leap year 2028 at 0.3 %:
    # 366 × 1000 × 0.3 % = 366 × 3.00 = 1098.00.
    case("hv_dual a whole leap year late", customer_class=HV2, amount="1000.00",
         due=date(2027, 12, 31), as_of=date(2028, 12, 31), total="1098.00", days=366),
    # --- The 1-yuan minimum and rounding half-up once ----------------------------------------
    # 1 day × 100 × 0.1 % = 0.10, under 1 yuan: charged 1.00.
    case("residential minimum after one day", customer_class=RES, amount="100.00", due=OCT20,
         as_of=date(2026, 10, 21), total="1.00", days=1, minimum_applied=True),
    # Oct 21..29: 9 days × 0.10 = 0.90, under 1 yuan: charged 1.00.
    case("residential minimum after nine days", customer_class=RES, amount="100.00", due=OCT20,
         as_of=date(2026, 10, 29), total="1.00", days=9, minimum_applied=True),
    # 1 day × 994 × 0.1 % = 0.994 → rounds to 0.99, under 1 yuan: charged 1.00.
    case("residential 0.994 is raised to the minimum", customer_class=RES, amount="994.00",
         due=OCT20, as_of=date(2026, 10, 21), total="1.00", days=1, minimum_applied=True),
    # 1 day × 995 × 0.1 % = 0.995 → rounds half-up to 1.00, which is not under 1 yuan.
    case("residential 0.995 rounds up to 1.00", customer_class=RES, amount="995.00", due=OCT20,
         as_of=date(2026, 10, 21), total="1.00", days=1),
    # 1 day × 1005 × 0.1 % = 1.005 → half-up 1.01 (half-to-even would give 1.00).
    case("residential 1.005 rounds half-up", customer_class=RES, amount="1005.00", due=OCT20,
         as_of=date(2026, 10, 21), total="1.01", days=1),
    # 10 days × 1234.56 × 0.1 % = 10 × 1.23456 = 12.3456 → 12.35.
    # Rounding each day first would give 10 × 1.23 = 12.30.
    case("residential rounded once not per day", customer_class=RES, amount="1234.56", due=OCT20,
         as_of=date(2026, 10, 30), total="12.35", days=10),
    # 2 days × 1002.50 × 0.1 % = 2 × 1.0025 = 2.005 → half-up 2.01.
    # Rounding each day first would give 2 × 1.00 = 2.00.
    case("residential exact sum ends in a half fen", customer_class=RES, amount="1002.50",
         due=OCT20, as_of=date(2026, 10, 22), total="2.01", days=2),
    # 7 days × 333.33 × 0.2 % = 7 × 0.66666 = 4.66662 → 4.67.
    # Rounding each day first would give 7 × 0.67 = 4.69.
    case("lv_business rounded once not per day", customer_class=LV, amount="333.33", due=OCT20,
         as_of=date(2026, 10, 27), total="4.67", days=7),
    # --- Payments ----------------------------------------------------------------------------
    # Oct 21..25: 5 × 1000 × 0.1 % = 5.00 (Oct 25, the payment day, counts in full);
    # Oct 26..30: 5 × 600 × 0.1 % = 5 × 0.60 = 3.00; total 8.00.
    case("residential partly paid", customer_class=RES, amount="1000.00", due=OCT20,
         as_of=date(2026, 10, 30), payments=((date(2026, 10, 25), "400.00"),), total="8.00",
         days=10),
    # Two payments on Oct 25 adding up to 400: the same as one, 8.00.
    case("residential two payments on one day", customer_class=RES, amount="1000.00", due=OCT20,
         as_of=date(2026, 10, 30),
         payments=((date(2026, 10, 25), "150.00"), (date(2026, 10, 25), "250.00")),
         total="8.00", days=10),
    # Paid in full on Oct 21: that day counts, 1 × 1000 × 0.2 % = 2.00; nothing after.
    case("lv_business paid in full the next day", customer_class=LV, amount="1000.00", due=OCT20,
         as_of=date(2026, 10, 31), payments=((date(2026, 10, 21), "1000.00"),), total="2.00",
         days=1),
    # 300 paid before the due date: Oct 21..25 on 700: 5 × 0.70 = 3.50.
    case("residential paid partly before the due date", customer_class=RES, amount="1000.00",
         due=OCT20, as_of=date(2026, 10, 25), payments=((date(2026, 10, 15), "300.00"),),
         total="3.50", days=5),
    # 300 paid on the due date itself: the same, 5 × 0.70 = 3.50.
    case("residential paid partly on the due date", customer_class=RES, amount="1000.00",
         due=OCT20, as_of=date(2026, 10, 25), payments=((OCT20, "300.00"),), total="3.50",
         days=5),
    # Paid in full on the due date: nothing, however late we ask.
    case("residential paid in full on the due date", customer_class=RES, amount="1000.00",
         due=OCT20, as_of=date(2026, 11, 30), payments=((OCT20, "1000.00"),), total="0.00",
         days=0),
    # 1500 paid on Oct 25: Oct 21..25 on 1000 at 0.2 %: 5 × 2.00 = 10.00; nothing after.
    case("lv_business overpaid late", customer_class=LV, amount="1000.00", due=OCT20,
         as_of=date(2026, 11, 10), payments=((date(2026, 10, 25), "1500.00"),), total="10.00",
         days=5),
    # 1200 paid before the due date on a bill of 1000: nothing.
    case("lv_business overpaid early", customer_class=LV, amount="1000.00", due=OCT20,
         as_of=date(2026, 11, 10), payments=((date(2026, 10, 10), "1200.00"),), total="0.00",
         days=0),
    # docs/bills.md's example. Dec 21..25: 5 × 1000 × 0.2 % = 10.00;
    # Dec 26..31: 6 × 600 × 0.2 % = 6 × 1.20 = 7.20; Jan 1..3: 3 × 600 × 0.3 % = 3 × 1.80 = 5.40;
    # 10.00 + 7.20 + 5.40 = 22.60 over 14 days.
    case("lv_business partly paid across a year boundary", customer_class=LV,
         amount="1000.00", due=date(2026, 12, 20), as_of=date(2027, 1, 3),
         payments=((date(2026, 12, 25), "400.00"),), total="22.60", days=14),
    # --- A contract's own start date ---------------------------------------------------------
    # Penalty from Oct 26: Oct 26..30 = 5 × 2.00 = 10.00.
    case("contract start date", customer_class=LV, amount="1000.00", due=OCT20,
         as_of=date(2026, 10, 30), start_date=date(2026, 10, 26), total="10.00", days=5),
    # Paid the day before the contract's start date: nothing.
    case("paid before the contract start date", customer_class=LV, amount="1000.00", due=OCT20,
         as_of=date(2026, 10, 25), start_date=date(2026, 10, 26), total="0.00", days=0),
    # Due Dec 20 2026, penalty from Jan 1 2027: Jan 1..2 in a later year, 2 × 3.00 = 6.00.
    case("contract start date in the next year", customer_class=LV, amount="1000.00",
         due=date(2026, 12, 20), as_of=date(2027, 1, 2), start_date=date(2027, 1, 1),
         total="6.00", days=2),
    # --- A rule change mid-arrears: each day uses the rule in force that day ------------------
    # Oct 21..31 (1996): 11 × 1000 × 0.2 % = 22.00; Nov 1..5 (new): 5 × 1000 × 0.1 % = 5.00;
    # total 27.00.
    case("lv_business over a rule change", customer_class=LV, amount="1000.00", due=OCT20,
         as_of=date(2026, 11, 5), rules=(RULE_1996, HALF_RATES_2026_11), total="27.00", days=16),
    # The same with the rules given newest first: order does not matter. 27.00.
    case("rules in any order", customer_class=LV, amount="1000.00", due=OCT20,
         as_of=date(2026, 11, 5), rules=(HALF_RATES_2026_11, RULE_1996), total="27.00", days=16),
    # Oct 21..31: 11 × 1000 × 0.1 % = 11.00; Nov 1..5: 5 × 1000 × 0.05 % = 2.50; total 13.50.
    case("residential over a rule change", customer_class=RES, amount="1000.00", due=OCT20,
         as_of=date(2026, 11, 5), rules=(RULE_1996, HALF_RATES_2026_11), total="13.50", days=16),
    # Oct 21..31 (1996, 0.2 %): 11 × 2.00 = 22.00; Nov 1..Dec 31 (new, 0.1 %): 61 × 1.00 = 61.00;
    # Jan 1..2 (new, later year 0.15 %): 2 × 1.50 = 3.00; total 86.00 over 74 days.
    case("rule change and year boundary", customer_class=HV1, amount="1000.00", due=OCT20,
         as_of=date(2027, 1, 2), rules=(RULE_1996, HALF_RATES_2026_11), total="86.00", days=74),
    # Oct 21..31: 11 × 10 × 0.1 % = 0.11; Nov 1..2: 2 × 10 × 0.05 % = 0.01; exact 0.12.
    # The minimum is the one of the rule in force on the last day (the new one: none): 0.12.
    case("minimum of the rule in force on the last day", customer_class=RES, amount="10.00",
         due=OCT20, as_of=date(2026, 11, 2), rules=(RULE_1996, HALF_RATES_2026_11),
         total="0.12", days=13),
    # Paid Oct 31, still under the 1996 rule: 11 × 0.01 = 0.11, under 1 yuan: 1.00.
    case("minimum of the 1996 rule before the change", customer_class=RES, amount="10.00",
         due=OCT20, as_of=date(2026, 10, 31), rules=(RULE_1996, HALF_RATES_2026_11),
         total="1.00", days=11, minimum_applied=True),
    # --- Nothing owed -------------------------------------------------------------------------
    case("zero amount", customer_class=LV, amount="0.00", due=OCT20, as_of=date(2026, 11, 20),
         total="0.00", days=0),
    case("asked before the due date", customer_class=LV, amount="1000.00", due=OCT20,
         as_of=date(2026, 10, 1), total="0.00", days=0),
]
# fmt: on


@pytest.mark.parametrize("c", CASES)
def test_penalty_matches_the_hand_worked_case(c: Case):
    penalty = penalty_for(
        amount=D(c.amount),
        due_date=c.due,
        as_of=c.as_of,
        customer_class=c.customer_class,
        payments=[(day, D(paid)) for day, paid in c.payments],
        start_date=c.start_date,
        rules=c.rules,
    )

    assert str(penalty.total) == c.total
    assert len(penalty.days) == c.days
    assert penalty.minimum_applied is c.minimum_applied


def test_there_are_enough_hand_worked_cases():
    assert len(CASES) >= 24


def test_exact_sum_is_kept_before_rounding():
    # 10 × 1234.56 × 0.1 % = 12.3456 exactly; charged 12.35.
    penalty = penalty_for(
        amount=D("1234.56"),
        due_date=OCT20,
        as_of=date(2026, 10, 30),
        customer_class=RES,
        rules=[RULE_1996],
    )

    assert penalty.exact == D("12.3456")
    assert penalty.total == D("12.35")


def test_breakdown_shows_each_stretch_with_its_base_and_rate():
    # docs/bills.md's example, in the three stretches a customer is shown.
    penalty = penalty_for(
        amount=D("1000.00"),
        due_date=date(2026, 12, 20),
        as_of=date(2027, 1, 3),
        customer_class=LV,
        payments=[(date(2026, 12, 25), D("400.00"))],
        rules=[RULE_1996],
    )

    assert [
        (s.first, s.last, s.days, s.base, s.rate, s.amount, s.later_year) for s in penalty.spans
    ] == [
        (date(2026, 12, 21), date(2026, 12, 25), 5, D("1000.00"), D("0.002"), D("10.00"), False),
        (date(2026, 12, 26), date(2026, 12, 31), 6, D("600.00"), D("0.002"), D("7.20"), False),
        (date(2027, 1, 1), date(2027, 1, 3), 3, D("600.00"), D("0.003"), D("5.40"), True),
    ]
    assert all(s.rule is RULE_1996 for s in penalty.spans)


def test_breakdown_starts_a_new_stretch_when_the_rule_changes():
    penalty = penalty_for(
        amount=D("1000.00"),
        due_date=OCT20,
        as_of=date(2026, 11, 5),
        customer_class=LV,
        rules=[RULE_1996, HALF_RATES_2026_11],
    )

    assert [(s.first, s.days, s.rate, s.amount, s.rule) for s in penalty.spans] == [
        (date(2026, 10, 21), 11, D("0.002"), D("22.00"), RULE_1996),
        (date(2026, 11, 1), 5, D("0.001"), D("5.00"), HALF_RATES_2026_11),
    ]


def test_a_day_before_any_rule_is_not_computable_and_says_which_day():
    # The 1996 rule took effect on 1996-10-08; Oct 2..7 have no rule.
    penalty = penalty_for(
        amount=D("100.00"),
        due_date=date(1996, 10, 1),
        as_of=date(1996, 10, 10),
        customer_class=RES,
        rules=[RULE_1996],
    )

    assert penalty == PenaltyUnknown(PenaltyUnknown.NO_RULE, date(1996, 10, 2))
    assert "no penalty rule in force on 1996-10-02" in penalty.detail


def test_no_rule_is_needed_when_nothing_is_late():
    # Paid on the due date, long before any rule: no day to look a rule up for.
    penalty = penalty_for(
        amount=D("100.00"),
        due_date=date(1990, 1, 1),
        as_of=date(1990, 1, 1),
        customer_class=RES,
        rules=[RULE_1996],
    )

    assert penalty.total == D("0.00")


def test_float_amount_is_refused():
    with pytest.raises(TypeError):
        penalty_for(
            amount=1000.0,
            due_date=OCT20,
            as_of=date(2026, 10, 25),
            customer_class=RES,
            rules=[RULE_1996],
        )


# --- With the rules in the database (migration 0003 loads the 1996 rule) ---------------------


@pytest.mark.django_db
def test_database_holds_the_1996_rule_after_migrate():
    rule = PenaltyRule.objects.get()

    assert (
        rule.effective_from,
        rule.residential_rate,
        rule.current_year_rate,
        rule.earlier_year_rate,
        rule.minimum_total,
    ) == (date(1996, 10, 8), D("0.001"), D("0.002"), D("0.003"), D("1.00"))
    assert "第九十八条" in rule.source


@pytest.mark.django_db
def test_default_rules_give_the_documented_example():
    # 10.00 + 7.20 + 5.40 = 22.60, as in the explicit-rules case above.
    penalty = penalty_for(
        amount=D("1000.00"),
        due_date=date(2026, 12, 20),
        as_of=date(2027, 1, 3),
        customer_class=HV2,
        payments=[(date(2026, 12, 25), D("400.00"))],
    )

    assert penalty.total == D("22.60")


@pytest.mark.django_db
def test_default_rules_apply_the_1_yuan_minimum():
    # Oct 21..22: 2 × 100 × 0.1 % = 0.20, under 1 yuan: 1.00.
    penalty = penalty_for(
        amount=D("100.00"), due_date=OCT20, as_of=date(2026, 10, 22), customer_class=RES
    )

    assert (penalty.total, penalty.minimum_applied) == (D("1.00"), True)


@pytest.mark.django_db
def test_default_rules_cannot_count_a_day_before_1996_10_08():
    penalty = penalty_for(
        amount=D("100.00"),
        due_date=date(1996, 10, 1),
        as_of=date(1996, 10, 10),
        customer_class=LV,
    )

    assert isinstance(penalty, PenaltyUnknown)
    assert penalty.reason == PenaltyUnknown.NO_RULE


@pytest.mark.django_db
def test_a_rule_staff_add_applies_from_its_date():
    # Staff record a (made-up) rule change as data: from Nov 1, half the rates.
    PenaltyRule.objects.create(
        effective_from=date(2026, 11, 1),
        residential_rate=D("0.0005"),
        current_year_rate=D("0.001"),
        earlier_year_rate=D("0.0015"),
        minimum_total=D("1.00"),
        source="test: a later rule",
    )

    # Oct 21..31: 11 × 2.00 = 22.00; Nov 1..5: 5 × 1.00 = 5.00; 27.00.
    penalty = penalty_for(
        amount=D("1000.00"), due_date=OCT20, as_of=date(2026, 11, 5), customer_class=LV
    )

    assert penalty.total == D("27.00")


# --- Properties ------------------------------------------------------------------------------

# A made-up later rule with the same minimum: with it, the properties hold across a rule change.
# (A later rule with a lower minimum can lower a total as time passes: the minimum is the one in
# force on the last day; see "minimum of the rule in force on the last day" above.)
LATER_SAME_MINIMUM = Rule(date(2030, 1, 1), D("0.0007"), D("0.0015"), D("0.0025"), D("1.00"))

CLASSES = st.sampled_from([RES, LV, HV1, HV2])
AMOUNTS = st.decimals(min_value=D("0.00"), max_value=D("500000.00"), places=2)
PAID = st.decimals(min_value=D("0.01"), max_value=D("500000.00"), places=2)
DUE_DATES = st.dates(min_value=date(1997, 1, 1), max_value=date(2060, 12, 31))
RULE_SETS = st.sampled_from([(RULE_1996,), (RULE_1996, LATER_SAME_MINIMUM)])
# Days relative to the due date.
OFFSETS = st.integers(min_value=-40, max_value=800)
PAYMENTS = st.lists(st.tuples(OFFSETS, PAID), max_size=4)
START_OFFSETS = st.none() | st.integers(min_value=1, max_value=60)


@st.composite
def bills(draw):
    """The arguments of ``penalty_for`` except ``as_of``."""
    due = draw(DUE_DATES)
    start = draw(START_OFFSETS)
    return {
        "amount": draw(AMOUNTS),
        "due_date": due,
        "customer_class": draw(CLASSES),
        "payments": [(due + timedelta(days=n), paid) for n, paid in draw(PAYMENTS)],
        "start_date": None if start is None else due + timedelta(days=start),
        "rules": draw(RULE_SETS),
    }


SETTINGS = settings(max_examples=150, deadline=None)


@SETTINGS
@given(bill=bills(), first=OFFSETS, later_by=st.integers(min_value=0, max_value=400))
def test_penalty_never_decreases_as_time_passes(bill, first, later_by):
    as_of = bill["due_date"] + timedelta(days=first)

    earlier = penalty_for(as_of=as_of, **bill)
    later = penalty_for(as_of=as_of + timedelta(days=later_by), **bill)

    assert later.total >= earlier.total


@SETTINGS
@given(bill=bills(), before=st.integers(min_value=0, max_value=400))
def test_penalty_is_zero_on_or_before_the_due_date(bill, before):
    bill["start_date"] = None

    penalty = penalty_for(as_of=bill["due_date"] - timedelta(days=before), **bill)

    assert penalty.total == 0
    assert penalty.days == ()


@SETTINGS
@given(bill=bills(), offset=OFFSETS)
def test_penalty_is_never_negative_and_always_whole_fen(bill, offset):
    penalty = penalty_for(as_of=bill["due_date"] + timedelta(days=offset), **bill)

    assert penalty.total >= 0
    assert penalty.total.as_tuple().exponent == -2


@SETTINGS
@given(bill=bills(), offset=OFFSETS)
def test_penalty_is_at_least_the_minimum_once_a_day_accrued(bill, offset):
    penalty = penalty_for(as_of=bill["due_date"] + timedelta(days=offset), **bill)

    if penalty.days:
        assert penalty.total >= D("1.00")
        if not penalty.minimum_applied:
            assert penalty.total == penalty.exact.quantize(D("0.01"), rounding=ROUND_HALF_UP)
    else:
        assert penalty.total == 0


@SETTINGS
@given(bill=bills(), offset=OFFSETS, extra=st.tuples(OFFSETS, PAID))
def test_another_payment_never_increases_the_penalty(bill, offset, extra):
    as_of = bill["due_date"] + timedelta(days=offset)
    paid_on, paid = extra

    without = penalty_for(as_of=as_of, **bill)
    bill["payments"] = [*bill["payments"], (bill["due_date"] + timedelta(days=paid_on), paid)]
    with_payment = penalty_for(as_of=as_of, **bill)

    assert with_payment.total <= without.total


# --- The calendar's edges (issue 20) ---------------------------------------------------------
# A bill that passed an earlier import may be due on any date a DateField holds: 0001-01-01 …
# 9999-12-31 (9999-12-31 is many billing systems' "no date"). Whatever the dates, penalty_for
# answers a Penalty or a PenaltyUnknown, never an exception; and for ordinary dates it counts
# exactly what a plain day-by-day walk counts.

# A rule in force since the calendar's first day: with it every day has a rule.
RULE_SINCE_YEAR_1 = Rule(date.min, D("0.001"), D("0.002"), D("0.003"), D("1.00"))
ANY_DATE = st.dates(min_value=date.min, max_value=date.max)
ANY_RULES = st.sampled_from(
    [(), (RULE_1996,), (RULE_SINCE_YEAR_1,), (RULE_1996, LATER_SAME_MINIMUM)]
)
EDGE_SETTINGS = settings(max_examples=120, deadline=None)


@EDGE_SETTINGS
@given(
    due=ANY_DATE,
    as_of=ANY_DATE,
    start=st.none() | ANY_DATE,
    amount=AMOUNTS,
    customer_class=CLASSES,
    payments=st.lists(st.tuples(ANY_DATE, PAID), max_size=3),
    rules=ANY_RULES,
)
def test_any_dates_give_a_penalty_in_whole_fen_or_say_it_cannot_be_counted(
    due, as_of, start, amount, customer_class, payments, rules
):
    result = penalty_for(
        amount=amount,
        due_date=due,
        as_of=as_of,
        customer_class=customer_class,
        payments=payments,
        start_date=start,
        rules=rules,
    )

    if isinstance(result, PenaltyUnknown):
        assert result.reason in (PenaltyUnknown.NO_RULE, PenaltyUnknown.CALENDAR_EDGE)
        assert result.detail and result.message
        if result.reason == PenaltyUnknown.CALENDAR_EDGE:
            assert (due, start) == (date.max, None)
        else:
            assert all(rule.effective_from > result.day for rule in rules)
    else:
        assert type(result.total) is Decimal and type(result.exact) is Decimal
        assert result.total >= 0
        assert result.total.as_tuple().exponent == -2
        assert all(span.days > 0 and span.amount > 0 for span in result.spans)


def test_a_due_date_on_the_calendars_last_day_cannot_be_counted():
    result = penalty_for(
        amount=D("110.00"),
        due_date=date.max,
        as_of=date(2026, 12, 1),
        customer_class=RES,
        rules=[RULE_1996],
    )

    assert result == PenaltyUnknown(PenaltyUnknown.CALENDAR_EDGE, date.max)


def test_a_whole_millennium_of_arrears_is_counted_at_once():
    # 1000-01-02 … 2999-12-31 with a rule from year 1: 2,000 years of 365 days and 485 leap days
    # (500 fourth years, less 20 centuries, plus 5 four-hundredth) from 1000-01-01 to 3000-01-01
    # are 730,485 days; one fewer to 2999-12-31: 730,484 × 100 × 0.1 % = 73,048.40.
    result = penalty_for(
        amount=D("100.00"),
        due_date=date(1000, 1, 1),
        as_of=date(2999, 12, 31),
        customer_class=RES,
        rules=[RULE_SINCE_YEAR_1],
    )

    assert result.day_count == 730_484
    assert result.total == D("73048.40")


def _reference(*, amount, due_date, as_of, customer_class, payments, rules):
    """A plain day-by-day walk, written from docs/bills.md without looking at penalty_for:
    (days that accrued, days at the later-year rate, exact sum, the rule of the last day)."""
    ordered = sorted(rules, key=lambda rule: rule.effective_from)
    days = later = 0
    exact = D(0)
    last_rule = None
    day = due_date + timedelta(days=1)
    while day <= as_of:
        unpaid = amount - sum((paid for paid_on, paid in payments if paid_on < day), D(0))
        if unpaid > 0:
            rule = [r for r in ordered if r.effective_from <= day][-1]
            later_year = customer_class != RES and day.year > due_date.year
            if customer_class == RES:
                rate = rule.residential_rate
            else:
                rate = rule.earlier_year_rate if later_year else rule.current_year_rate
            days += 1
            later += later_year
            exact += unpaid * rate
            last_rule = rule
        day += timedelta(days=1)
    return days, later, exact, last_rule


# Due dates around the awkward days: the last days of a year and of February, leap or not.
AWKWARD_DUE = st.builds(
    lambda year, month_day: (
        date(year, *month_day)
        if month_day != (2, 29) or year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        else date(year, 2, 28)
    ),
    st.integers(min_value=1997, max_value=2103),
    st.sampled_from([(12, 29), (12, 30), (12, 31), (1, 1), (2, 27), (2, 28), (2, 29), (3, 1)]),
)


@EDGE_SETTINGS
@given(
    due=AWKWARD_DUE,
    late_by=st.integers(min_value=0, max_value=800),
    amount=st.decimals(min_value=D("0.01"), max_value=D("50000.00"), places=2),
    customer_class=CLASSES,
    paid=st.lists(st.tuples(st.integers(min_value=-5, max_value=800), PAID), max_size=3),
    rules=RULE_SETS,
)
def test_days_rates_and_sum_match_a_day_by_day_walk(
    due, late_by, amount, customer_class, paid, rules
):
    as_of = due + timedelta(days=late_by)
    payments = [(due + timedelta(days=offset), value) for offset, value in paid]
    arguments = {
        "amount": amount,
        "due_date": due,
        "as_of": as_of,
        "customer_class": customer_class,
        "payments": payments,
        "rules": rules,
    }

    result = penalty_for(**arguments)
    days, later, exact, last_rule = _reference(**arguments)

    assert result.day_count == days
    assert sum(span.days for span in result.spans if span.later_year) == later
    assert result.exact == exact
    if days:
        expected = max(exact.quantize(D("0.01"), rounding=ROUND_HALF_UP), last_rule.minimum_total)
        assert result.total == expected
    else:
        assert result.total == D("0.00")
    # The 1996 rule's rates (DOMAIN.md): residential 0.1 %; business 0.2 % in the due date's
    # year, 0.3 % in any later year.
    for span in result.spans:
        if span.rule is not RULE_1996:
            continue
        if customer_class == RES:
            assert span.rate == D("0.001")
        else:
            assert span.rate == (D("0.003") if span.later_year else D("0.002"))
            assert span.later_year == (span.first.year > due.year)
