"""Service staff enter next year's holidays and adjusted working days in the back office
(/cms-admin/calendar-days/); the deadlines count them at once, and every change is audited."""

from datetime import date

import pytest

from portal.core.calendar import add_working_days
from portal.models import AuditEvent, CalendarDay
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DAYS = "/cms-admin/calendar-days/"


def test_staff_enter_a_day_off_of_next_year_and_deadlines_move(client, service_staff):
    # 1 January 2027 is a Friday: without data, the next working day is Monday 4 January.
    assert add_working_days(date(2027, 1, 1), 1) == date(2027, 1, 4)

    response = client.post(
        DAYS + "new/", {"day": "2027-01-04", "working": "", "note": "元旦调休"}, follow=True
    )

    assert response.status_code == 200
    assert CalendarDay.objects.get(day=date(2027, 1, 4)).working is False
    assert add_working_days(date(2027, 1, 1), 1) == date(2027, 1, 5)
    event = AuditEvent.objects.get(action="calendar.day_created")
    assert event.actor_id == service_staff.pk
    assert '"day":"2027-01-04"' in event.data
    assert "2027-01-04" in client.get(DAYS).content.decode()


def test_a_day_can_be_entered_once(client, service_staff):
    CalendarDay.objects.create(day=date(2027, 2, 20), working=True)

    response = client.post(DAYS + "new/", {"day": "2027-02-20", "working": "on"})

    assert response.status_code == 200  # the form again, with the error
    assert "already exists" in response.content.decode()
    assert CalendarDay.objects.count() == 1


def test_a_customer_cannot_open_the_calendar(client):
    customer = UserFactory()
    client.force_login(customer)

    response = client.get(DAYS)

    assert response.status_code in (302, 403)
    assert CalendarDay.objects.count() == 0
