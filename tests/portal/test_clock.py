"""The business clock: Beijing's date, whatever the UTC date or the process's time zone."""

from datetime import UTC, date, datetime

import pytest

from portal.core import clock


@pytest.mark.time_machine(datetime(2027, 1, 1, 16, 30, tzinfo=UTC), tick=False)
def test_half_past_midnight_in_beijing_is_already_the_next_day():
    assert clock.today() == date(2027, 1, 2)
    assert clock.now() == datetime(2027, 1, 1, 16, 30, tzinfo=UTC)
    assert clock.localtime().isoformat() == "2027-01-02T00:30:00+08:00"


@pytest.mark.time_machine(datetime(2028, 2, 29, 15, 59, 59, tzinfo=UTC), tick=False)
def test_the_last_second_of_a_leap_day_in_beijing_is_still_that_day():
    assert clock.today() == date(2028, 2, 29)
    assert clock.business_date(clock.day_end(clock.today())) == date(2028, 3, 1)


def test_a_beijing_day_runs_from_its_midnight_to_the_next():
    assert clock.day_start(date(2026, 12, 31)) == datetime(2026, 12, 30, 16, tzinfo=UTC)
    assert clock.day_end(date(2026, 12, 31)) == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert clock.business_date(datetime(2026, 12, 31, 15, 59, tzinfo=UTC)) == date(2026, 12, 31)
    assert clock.business_date(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == date(2027, 1, 1)


def test_the_clock_ignores_the_processs_time_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    moment = datetime(2026, 6, 30, 23, 0, tzinfo=UTC)

    assert clock.business_date(moment) == date(2026, 7, 1)
