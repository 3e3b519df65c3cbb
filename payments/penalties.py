"""The late-payment penalty (电费违约金), as one pure function.

How powerhall counts (DOMAIN.md, docs/bills.md; 供电营业规则 1996, 第九十八条):

- the penalty accrues day by day, on the amount still unpaid that day, for every day from the day
  after the due date (or the contract's own start date) through the day of payment. Paid on the due
  date: nothing; paid the next day: one day. A payment made on a day still counts that day in full
  (the day accrues on what was unpaid when it began) and lowers the amount from the next day on;
- residential customers pay the residential rate; other customers the current-year rate for days
  in the calendar year of the due date and the earlier-year rate for days in any later year;
- each day uses the rule in force that day;
- the days are summed exactly, the sum is rounded half-up to the fen once, and the rule's minimum
  (1 yuan in 1996) applies if any day accrued: the minimum of the rule in force on the last day.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

from portal.core.money import ZERO, to_fen

RESIDENTIAL = "residential"


class Rule(Protocol):
    """What a penalty rule must provide (``payments.models.PenaltyRule`` does)."""

    effective_from: date
    residential_rate: Decimal
    current_year_rate: Decimal
    earlier_year_rate: Decimal
    minimum_total: Decimal


class NoRuleInForce(ValueError):
    """A day of arrears falls before the first rule's effective date."""


@dataclass(frozen=True)
class PenaltyDay:
    day: date
    base: Decimal
    """The amount still unpaid when the day began."""
    rate: Decimal
    amount: Decimal
    """base × rate, exact (not rounded)."""
    rule: Rule
    later_year: bool
    """True for a non-residential day in a year after the due date's (the higher rate)."""


@dataclass(frozen=True)
class PenaltySpan:
    """Consecutive days with the same base, rate and rule: how the breakdown is shown."""

    first: date
    last: date
    days: int
    base: Decimal
    rate: Decimal
    amount: Decimal
    rule: Rule
    later_year: bool


@dataclass(frozen=True)
class Penalty:
    total: Decimal
    """What is charged: the exact sum rounded half-up to the fen, at least the minimum."""
    exact: Decimal
    """The exact sum of the days, before rounding."""
    days: tuple[PenaltyDay, ...]
    minimum_applied: bool

    @property
    def spans(self) -> list[PenaltySpan]:
        spans: list[PenaltySpan] = []
        for day in self.days:
            last = spans[-1] if spans else None
            if (
                last is not None
                and last.last + timedelta(days=1) == day.day
                and (last.base, last.rate, last.rule, last.later_year)
                == (day.base, day.rate, day.rule, day.later_year)
            ):
                spans[-1] = PenaltySpan(
                    last.first,
                    day.day,
                    last.days + 1,
                    last.base,
                    last.rate,
                    last.amount + day.amount,
                    last.rule,
                    last.later_year,
                )
            else:
                spans.append(
                    PenaltySpan(
                        day.day,
                        day.day,
                        1,
                        day.base,
                        day.rate,
                        day.amount,
                        day.rule,
                        day.later_year,
                    )
                )
        return spans


NO_PENALTY = Penalty(total=ZERO, exact=ZERO, days=(), minimum_applied=False)


def penalty_for(
    *,
    amount: Decimal,
    due_date: date,
    as_of: date,
    customer_class: str,
    payments: Iterable[tuple[date, Decimal]] = (),
    start_date: date | None = None,
    rules: Sequence[Rule] | None = None,
) -> Penalty:
    """The penalty on a bill of ``amount`` due on ``due_date``, if paid in full on ``as_of``.

    ``payments`` are the (date, amount) pairs already paid towards the amount; ``start_date`` a
    contract's own first day of penalty; ``rules`` defaults to the rules in the database.
    """
    if isinstance(amount, float):
        raise TypeError("amount must be a Decimal, not a float")
    first = start_date if start_date is not None else due_date + timedelta(days=1)
    if as_of < first or amount <= 0:
        return NO_PENALTY
    if rules is None:
        from .models import PenaltyRule

        rules = list(PenaltyRule.objects.order_by("effective_from"))
    ordered = sorted(rules, key=lambda rule: rule.effective_from)
    # Money paid on a day lowers the base from the next day on.
    paid_by_day: dict[date, Decimal] = {}
    for paid_on, paid in payments:
        paid_by_day[paid_on] = paid_by_day.get(paid_on, ZERO) + Decimal(paid)
    paid_before_first = sum((paid for day, paid in paid_by_day.items() if day < first), ZERO)
    base = Decimal(amount) - paid_before_first

    residential = customer_class == RESIDENTIAL
    days: list[PenaltyDay] = []
    rule_index = -1
    day = first
    # A refund is a negative payment: a bill paid off and later refunded owes again from the day
    # after the refund, so the days are walked through the last payment even at a zero base.
    last_payment = max(paid_by_day, default=first)
    while day <= as_of and (base > 0 or day <= last_payment):
        while rule_index + 1 < len(ordered) and ordered[rule_index + 1].effective_from <= day:
            rule_index += 1
        if rule_index < 0:
            raise NoRuleInForce(f"no penalty rule in force on {day.isoformat()}")
        rule = ordered[rule_index]
        later_year = not residential and day.year > due_date.year
        if residential:
            rate = rule.residential_rate
        else:
            rate = rule.earlier_year_rate if later_year else rule.current_year_rate
        if base > 0:
            days.append(PenaltyDay(day, base, rate, base * rate, rule, later_year))
        base -= paid_by_day.get(day, ZERO)
        day += timedelta(days=1)

    exact = sum((d.amount for d in days), ZERO)
    if exact == 0:  # no day accrued anything (a rate of 0): no minimum either
        return NO_PENALTY
    total = to_fen(exact)
    minimum = days[-1].rule.minimum_total
    minimum_applied = total < minimum
    if minimum_applied:
        total = to_fen(minimum)
    return Penalty(total=total, exact=exact, days=tuple(days), minimum_applied=minimum_applied)
