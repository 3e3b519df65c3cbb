"""Service staff enter next year's holidays and adjusted working days in the back office
(/cms-admin/calendar-days/); the deadlines count them at once, and every change is audited."""

from datetime import date

import pytest
from django.urls import reverse

from portal.core.calendar import add_working_days
from portal.models import AuditEvent, CalendarDay
from portal.roles import SERVICE_STAFF, roles_ensure
from tests.factories import PASSWORD, StaffUserFactory, UserFactory, totp_enrol

pytestmark = pytest.mark.django_db

DAYS = "/cms-admin/calendar-days/"


@pytest.fixture
def staff(client, totp_code):
    """Service staff, signed in with their password and authenticator, reading English."""
    user = StaffUserFactory()
    user.groups.add(roles_ensure()[SERVICE_STAFF])
    secret = totp_enrol(user)
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return user


def test_staff_enter_a_day_off_of_next_year_and_deadlines_move(client, staff):
    # 1 January 2027 is a Friday: without data, the next working day is Monday 4 January.
    assert add_working_days(date(2027, 1, 1), 1) == date(2027, 1, 4)

    response = client.post(
        DAYS + "new/", {"day": "2027-01-04", "working": "", "note": "元旦调休"}, follow=True
    )

    assert response.status_code == 200
    assert CalendarDay.objects.get(day=date(2027, 1, 4)).working is False
    assert add_working_days(date(2027, 1, 1), 1) == date(2027, 1, 5)
    event = AuditEvent.objects.get(action="calendar.day_created")
    assert event.actor_id == staff.pk
    assert '"day":"2027-01-04"' in event.data
    assert "2027-01-04" in client.get(DAYS).content.decode()


def test_a_day_can_be_entered_once(client, staff):
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
