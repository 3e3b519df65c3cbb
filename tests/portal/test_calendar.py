"""Working days: Monday to Friday, public holidays off, adjusted working weekends on."""

from datetime import date

from portal.core.calendar import Calendar, business_calendar, calendar_sources

# National Day 2026: 1-7 October off; Sunday 27 September and Saturday 10 October worked.
NATIONAL_DAY_2026 = [(date(2026, 10, d), False) for d in range(1, 8)] + [
    (date(2026, 9, 27), True),
    (date(2026, 10, 10), True),
]


def test_three_working_days_from_a_friday_end_on_wednesday():
    assert Calendar.of().add_working_days(date(2026, 11, 27), 3) == date(2026, 12, 2)


def test_a_holiday_week_does_not_count_and_an_adjusted_saturday_does():
    calendar = Calendar.of(NATIONAL_DAY_2026)

    assert calendar.is_working_day(date(2026, 9, 27))  # a Sunday, worked
    assert not calendar.is_working_day(date(2026, 10, 5))  # a Monday, off
    # From Wednesday 30 September: the holiday week counts nothing; Thursday 8 and Friday 9
    # October, the adjusted Saturday 10 and Monday 12 do.
    assert calendar.add_working_days(date(2026, 9, 30), 4) == date(2026, 10, 12)
    assert calendar.working_days_between(date(2026, 9, 30), date(2026, 10, 12)) == 4


def test_zero_days_is_the_same_day_and_an_earlier_end_counts_nothing():
    calendar = Calendar.of()

    assert calendar.add_working_days(date(2026, 12, 5), 0) == date(2026, 12, 5)
    assert calendar.working_days_between(date(2026, 12, 9), date(2026, 12, 1)) == 0


def test_the_business_calendar_takes_its_days_from_the_registered_sources():
    def national_day():
        return NATIONAL_DAY_2026

    assert business_calendar().is_working_day(date(2026, 10, 7))  # a Wednesday, without data
    calendar_sources.register(national_day)
    try:
        assert not business_calendar().is_working_day(date(2026, 10, 7))
        assert business_calendar().is_working_day(date(2026, 10, 10))
    finally:
        calendar_sources.unregister(national_day)
