"""Working days: Monday to Friday, the published public holidays off, the adjusted working
weekends (调休) on, and the days an operator enters over both."""

from datetime import date

import pytest

from portal.core.calendar import Calendar, add_working_days, business_calendar, calendar_sources
from portal.models import CalendarDay

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("start", "days", "deadline"),
    [
        # Spring Festival 2025: 28 January to 4 February off; Sunday 26 January worked.
        (date(2025, 1, 24), 3, date(2025, 2, 5)),
        # National Day 2025: 1 to 8 October off; Saturday 11 October worked.
        (date(2025, 9, 30), 2, date(2025, 10, 10)),
        (date(2025, 9, 30), 3, date(2025, 10, 11)),
        # Spring Festival 2026: 15 to 23 February off; Saturday 14 February worked.
        (date(2026, 2, 13), 3, date(2026, 2, 25)),
        # National Day 2026: Sunday 20 September worked; 1 to 7 October off, Saturday 10 worked.
        (date(2026, 9, 18), 2, date(2026, 9, 21)),
        (date(2026, 9, 30), 3, date(2026, 10, 10)),
        # An ordinary week: three working days from a Friday end on Wednesday.
        (date(2026, 11, 27), 3, date(2026, 12, 2)),
    ],
)
def test_deadlines_count_the_published_holidays_and_adjusted_weekends(start, days, deadline):
    assert add_working_days(start, days) == deadline


def test_the_start_day_never_counts_and_zero_days_is_the_start():
    assert add_working_days(date(2026, 2, 14), 0) == date(2026, 2, 14)
    assert add_working_days(date(2026, 2, 14), 1) == date(2026, 2, 24)


def test_a_year_the_library_does_not_know_yet_is_monday_to_friday_until_entered():
    # 1 January 2027 is a Friday; nothing published for 2027 yet.
    assert add_working_days(date(2027, 1, 1), 1) == date(2027, 1, 4)

    CalendarDay.objects.create(day=date(2027, 1, 4), working=False, note="元旦调休")
    CalendarDay.objects.create(day=date(2027, 1, 9), working=True, note="元旦补班")

    assert add_working_days(date(2027, 1, 1), 1) == date(2027, 1, 5)
    assert add_working_days(date(2027, 1, 1), 5) == date(2027, 1, 9)


def test_an_entered_day_overrides_the_published_calendar():
    CalendarDay.objects.create(day=date(2026, 2, 14), working=False, note="本地假日")

    assert not business_calendar().is_working_day(date(2026, 2, 14))


def test_working_days_between_counts_how_much_of_a_clock_has_run():
    calendar = business_calendar()

    assert calendar.working_days_between(date(2026, 9, 30), date(2026, 10, 10)) == 3
    assert calendar.working_days_between(date(2026, 12, 9), date(2026, 12, 1)) == 0


def test_negative_days_are_refused():
    with pytest.raises(ValueError):
        Calendar.of().add_working_days(date(2026, 12, 1), -1)


def test_the_calendar_takes_days_from_registered_sources_last():
    def local_holiday():
        return [(date(2026, 12, 9), False)]

    assert business_calendar().is_working_day(date(2026, 12, 9))
    calendar_sources.register(local_holiday)
    try:
        assert not business_calendar().is_working_day(date(2026, 12, 9))
    finally:
        calendar_sources.unregister(local_holiday)
