"""Working days: the calendar the service commitments count in (DOMAIN.md, docs/time.md).

Monday to Friday are working days, except the public holidays; and some Saturdays and Sundays are
working days, the adjusted working days (调休) the State Council announces late each year for the
next. Three sources, each overriding the one before:

1. the published calendar, from ``chinesecalendar`` (a maintained library with every holiday
   and adjusted working day since 2004, until the last year it was released for);
2. ``CalendarDay`` rows an operator enters in the back office: next year's days before the
   library knows them, a local holiday;
3. providers registered in ``calendar_sources`` by the apps above (none yet).

A year that none of them knows is counted as plain Monday to Friday. ``add_working_days`` is the
one function deadlines are computed with.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import chinese_calendar

from .models import CalendarDay
from .registry import Registry

calendar_sources = Registry("working-day calendar")
"""``provider() -> Iterable[tuple[date, bool]]``: days that differ from Monday to Friday, each
with whether it is a working day (a public holiday on a weekday: False; an adjusted working
Saturday: True)."""


@dataclass(frozen=True)
class Calendar:
    exceptions: dict[date, bool]
    """Days that are (True) or are not (False) working days, unlike their weekday says."""

    @classmethod
    def of(cls, days: Iterable[tuple[date, bool]] = ()) -> "Calendar":
        return cls(dict(days))

    def is_working_day(self, day: date) -> bool:
        return self.exceptions.get(day, day.weekday() < 5)

    def add_working_days(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start``: a commitment of 3 working days from a
        Friday application ends on Wednesday. ``start`` itself never counts (the day an
        application arrives is day 0); 0 days is ``start``."""
        if days < 0:
            raise ValueError("days must not be negative")
        day = start
        while days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                days -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 if ``end`` is not
        later): how much of a clock has run."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count


@cache
def _published() -> tuple[tuple[date, bool], ...]:
    """The library's holidays on weekdays and its adjusted working weekend days."""
    days = [(day, False) for day in chinese_calendar.holidays if day.weekday() < 5]
    days += [(day, True) for day in chinese_calendar.workdays if day.weekday() >= 5]
    return tuple(sorted(days))


def _entered() -> Iterator[tuple[date, bool]]:
    yield from CalendarDay.objects.values_list("day", "working")


def business_calendar() -> Calendar:
    """The calendar as it stands now: published days, then the operator's, then the apps'."""
    days = list(_published())
    days += _entered()
    for provider in calendar_sources:
        days += provider()
    return Calendar.of(days)


def add_working_days(start: date, days: int) -> date:
    """The ``days``-th working day after ``start`` on ``business_calendar()``."""
    return business_calendar().add_working_days(start, days)
