"""The business clock: the one place the portal asks what time it is and which day it is.

Due dates, penalty days, ledger postings, receipt years, statements and reminders are dates in
Asia/Shanghai, whatever time zone a request, a worker, the server or the database runs in: a
payment at 00:30 in Beijing is paid "today" there although it is still yesterday in UTC. Every
app takes the date from ``today()`` and the instant from ``now()``; nothing calls
``date.today()``, a naive ``datetime.now()`` or the database's ``now()`` (another process, with
its own clock: libfaketime and time-machine do not move it). docs/time.md says how tests pin it.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

BUSINESS_TIME_ZONE = ZoneInfo("Asia/Shanghai")


def now() -> datetime:
    """The current instant, time-zone aware (stored as UTC)."""
    return timezone.now()


def localtime(moment: datetime | None = None) -> datetime:
    """``moment`` (default: now) as a wall-clock time in Asia/Shanghai."""
    return (moment or now()).astimezone(BUSINESS_TIME_ZONE)


def today() -> date:
    """Today's date in Asia/Shanghai: the day a penalty is counted to and a payment posts on."""
    return localtime().date()


def business_date(moment: datetime) -> date:
    """The Asia/Shanghai date of an instant (the day money moved, a case was submitted…)."""
    return localtime(moment).date()


def day_start(day: date) -> datetime:
    """The first instant of ``day`` in Asia/Shanghai (00:00 Beijing time)."""
    return datetime.combine(day, time.min, tzinfo=BUSINESS_TIME_ZONE)


def day_end(day: date) -> datetime:
    """The first instant after ``day`` in Asia/Shanghai: ``day_start`` of the next day."""
    return day_start(day + timedelta(days=1))
