"""Working days: the calendar the service commitments count in (DOMAIN.md).

Monday to Friday are working days, except the public holidays; and some Saturdays and Sundays are
working days, the adjusted working days (调休) the State Council announces late each year for the
next. Both lists are data an operator extends (the applications app keeps them in a table and
provides them here through ``calendar_sources``), never code: a year that nobody entered yet is
counted as plain Monday to Friday.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

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
        """The day on which ``days`` working days after ``start`` have passed: a commitment of
        3 working days from a Friday application ends on Wednesday. ``start`` itself does not
        count (the day an application arrives is day 0)."""
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


def business_calendar() -> Calendar:
    """The calendar with every provider's days (a later provider wins on the same day)."""
    return Calendar.of(day for provider in calendar_sources for day in provider())
