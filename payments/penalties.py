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

The days are counted in stretches, not one by one: between two changes (a payment, a new rule,
1 January after the due date's year) every day accrues the same exact amount, so a stretch of n
days adds n × base × rate. The result is the same to the last digit, and a bill due in 1900 or
paid in 9999 costs as little to count as one a week late.

``penalty_for`` never raises for a date. Where no penalty can be counted (a day of arrears with no
rule in force, or a due date on the calendar's last day, whose next day does not exist) it returns
``PenaltyUnknown`` with the reason, and the caller says so (docs/bills.md, "When a penalty cannot
be worked out"): it never stands in a penalty of 0.
"""

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, localcontext
from typing import Protocol

from django.utils.translation import gettext as _

from portal.core.money import ZERO, to_fen

RESIDENTIAL = "residential"
ONE_DAY = timedelta(days=1)


class Rule(Protocol):
    """What a penalty rule must provide (``payments.models.PenaltyRule`` does)."""

    effective_from: date
    residential_rate: Decimal
    current_year_rate: Decimal
    earlier_year_rate: Decimal
    minimum_total: Decimal


def day_after(day: date) -> date | None:
    """The next day, or None after the calendar's last day (9999-12-31, a billing system's
    "no date")."""
    return None if day == date.max else day + ONE_DAY


@dataclass(frozen=True)
class PenaltyUnknown:
    """No penalty can be counted for this bill: a fault in the data, for staff to fix.

    Never a penalty of 0: whoever receives it says that the penalty could not be worked out."""

    NO_RULE = "no_rule"
    """A day of arrears falls before the first penalty rule's effective date."""
    CALENDAR_EDGE = "calendar_edge"
    """The due date is the calendar's last day: the first day of arrears does not exist."""

    reason: str
    day: date
    """The day without a rule (NO_RULE), or the due date at the calendar's edge."""

    @property
    def message(self) -> str:
        """What the customer is told, in their language (a page adds what they can do)."""
        if self.reason == self.NO_RULE:
            return _(
                "The late-payment penalty could not be worked out for this bill: no penalty rule"
                " covers %(day)s. Our staff have been told."
            ) % {"day": self.day.isoformat()}
        return _(
            "The late-payment penalty could not be worked out for this bill: its due date,"
            " %(day)s, is the last day of the calendar, which billing systems use for"
            " “no date”. Our staff have been told."
        ) % {"day": self.day.isoformat()}

    @property
    def detail(self) -> str:
        """For staff and logs (English, not translated)."""
        if self.reason == self.NO_RULE:
            return f"no penalty rule in force on {self.day.isoformat()}"
        return f"due date {self.day.isoformat()} is the calendar's last day (a placeholder?)"


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
    """days × base × rate, exact."""
    rule: Rule
    later_year: bool

    @property
    def day_amount(self) -> Decimal:
        """What each of its days accrued (base × rate, exact)."""
        return self.base * self.rate


@dataclass(frozen=True)
class Penalty:
    total: Decimal
    """What is charged: the exact sum rounded half-up to the fen, at least the minimum."""
    exact: Decimal
    """The exact sum of the days, before rounding."""
    spans: tuple[PenaltySpan, ...]
    """The days that accrued, in stretches (no stretch is empty)."""
    minimum_applied: bool

    @property
    def day_count(self) -> int:
        """How many days accrued."""
        return sum(span.days for span in self.spans)

    @property
    def days(self) -> tuple[PenaltyDay, ...]:
        """Every day that accrued, one by one (for tests and short breakdowns: it is as long as
        the arrears)."""
        return tuple(
            PenaltyDay(
                span.first + timedelta(days=n),
                span.base,
                span.rate,
                span.day_amount,
                span.rule,
                span.later_year,
            )
            for span in self.spans
            for n in range(span.days)
        )


NO_PENALTY = Penalty(total=ZERO, exact=ZERO, spans=(), minimum_applied=False)


def _rate(rule: Rule, *, residential: bool, later_year: bool) -> Decimal:
    if residential:
        return rule.residential_rate
    return rule.earlier_year_rate if later_year else rule.current_year_rate


def penalty_for(
    *,
    amount: Decimal,
    due_date: date,
    as_of: date,
    customer_class: str,
    payments: Iterable[tuple[date, Decimal]] = (),
    start_date: date | None = None,
    rules: Sequence[Rule] | None = None,
) -> Penalty | PenaltyUnknown:
    """The penalty on a bill of ``amount`` due on ``due_date``, if paid in full on ``as_of``;
    ``PenaltyUnknown`` when it cannot be counted (never an exception for a date).

    ``payments`` are the (date, amount) pairs already paid towards the amount; ``start_date`` a
    contract's own first day of penalty; ``rules`` defaults to the rules in the database.
    """
    if isinstance(amount, float):
        raise TypeError("amount must be a Decimal, not a float")
    first = start_date if start_date is not None else day_after(due_date)
    if first is None:
        return PenaltyUnknown(PenaltyUnknown.CALENDAR_EDGE, due_date)
    if as_of < first or amount <= 0:
        return NO_PENALTY
    if rules is None:
        from .models import PenaltyRule

        rules = list(PenaltyRule.objects.order_by("effective_from"))
    ordered = sorted(rules, key=lambda rule: rule.effective_from)
    starts = [rule.effective_from for rule in ordered]
    # Money paid on a day lowers the base from the next day on.
    paid_by_day: dict[date, Decimal] = {}
    for paid_on, paid in payments:
        paid_by_day[paid_on] = paid_by_day.get(paid_on, ZERO) + Decimal(paid)

    # The days on which something changes, after the first: the day after a payment (the base),
    # a rule's first day, and for non-residential customers 1 January after the due date's year
    # (the higher rate from then on, in that year and every later one).
    residential = customer_class == RESIDENTIAL
    changes = {day + ONE_DAY for day in paid_by_day if first <= day < as_of}
    changes.update(start for start in starts if first < start <= as_of)
    if not residential and due_date.year < date.max.year:
        new_year = date(due_date.year + 1, 1, 1)
        if first < new_year <= as_of:
            changes.add(new_year)
    bounds = [first, *sorted(changes)]

    spans: list[PenaltySpan] = []
    # Exact arithmetic: a day's amount has the digits of base × rate, and a sum over thousands of
    # years of them stays far below 60 digits.
    with localcontext() as context:
        context.prec = 60
        for index, start in enumerate(bounds):
            last = bounds[index + 1] - ONE_DAY if index + 1 < len(bounds) else as_of
            base = Decimal(amount) - sum(
                (paid for day, paid in paid_by_day.items() if day < start), ZERO
            )
            if base <= 0:
                continue
            in_force = bisect_right(starts, start) - 1
            if in_force < 0:
                return PenaltyUnknown(PenaltyUnknown.NO_RULE, start)
            rule = ordered[in_force]
            later_year = not residential and start.year > due_date.year
            rate = _rate(rule, residential=residential, later_year=later_year)
            days = (last - start).days + 1
            previous = spans[-1] if spans else None
            if (
                previous is not None
                and previous.last + ONE_DAY == start
                and (previous.base, previous.rate, previous.rule, previous.later_year)
                == (base, rate, rule, later_year)
            ):
                spans[-1] = PenaltySpan(
                    previous.first,
                    last,
                    previous.days + days,
                    base,
                    rate,
                    previous.amount + base * rate * days,
                    rule,
                    later_year,
                )
            else:
                spans.append(
                    PenaltySpan(start, last, days, base, rate, base * rate * days, rule, later_year)
                )
        exact = sum((span.amount for span in spans), ZERO)
        if exact <= 0:  # no day accrued anything (a rate of 0): no minimum either
            return NO_PENALTY
        total = to_fen(exact)
        minimum = spans[-1].rule.minimum_total
        minimum_applied = total < minimum
        if minimum_applied:
            total = to_fen(minimum)
    return Penalty(total=total, exact=exact, spans=tuple(spans), minimum_applied=minimum_applied)
