"""Reading cases for the person who asks (docs/applications.md). A case is the applicant's, and
also that of whoever holds an active binding of its account (a case staff opened for a customer
who phoned appears in their list once they bind the account). Anything else is "not found"."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

from django.db.models import Q, QuerySet
from django.http import Http404

from portal.core import clock
from portal.core.calendar import business_calendar
from portal.models import User

from .models import Case, CaseEvent, StepClock, TimeUnit


def case_list_for(*, user: User) -> QuerySet[Case]:
    bound = Q(
        account__bindings__user=user,
        account__bindings__ended_at__isnull=True,
        account__isnull=False,
    )
    ids = Case.objects.filter(Q(applicant=user) | bound).values("pk")
    return (
        Case.objects.filter(pk__in=ids)
        .select_related("kind_version__kind", "account")
        .order_by("-created_at")
    )


def case_get_for(*, user: User, uuid: UUID | str) -> Case:
    try:
        return case_list_for(user=user).get(uuid=uuid)
    except (Case.DoesNotExist, ValueError):
        raise Http404 from None


@dataclass(frozen=True)
class TimeLeft:
    due_at: datetime
    last_day: date
    """The last day of the time limit (``due_at`` is the midnight after it, for day rules)."""
    overdue: bool
    days: int | None
    """Days after today up to the last day (a day rule), else None."""
    working: bool
    """``days`` counts working days (else calendar days)."""
    hours: int | None
    """Whole hours left (an hours or minutes rule), else None."""


def time_left(running: StepClock | None) -> TimeLeft | None:
    """What both sides are shown of the running clock: the deadline and how much time is left.
    None when no clock with a deadline runs (none, or stopped while the customer is asked)."""
    if running is None or running.due_at is None or running.paused_at is not None:
        return None
    now = clock.now()
    overdue = now >= running.due_at
    last_day = clock.business_date(running.due_at - timedelta(microseconds=1))
    if running.unit in (TimeUnit.HOURS, TimeUnit.MINUTES):
        hours = max(int((running.due_at - now).total_seconds() // 3600), 0)
        return TimeLeft(running.due_at, last_day, overdue, None, False, hours)
    today = clock.today()
    if running.unit == TimeUnit.CALENDAR_DAYS:
        return TimeLeft(
            running.due_at, last_day, overdue, max((last_day - today).days, 0), False, None
        )
    days = business_calendar().working_days_between(today, last_day)
    return TimeLeft(running.due_at, last_day, overdue, days, True, None)


def running_clock(case: Case) -> StepClock | None:
    return StepClock.objects.filter(case=case, finished_at__isnull=True).first()


def timeline_for_customer(case: Case) -> list[CaseEvent]:
    """Every event the customer may read, oldest first (no internal notes or deadline records)."""
    return list(case.events.filter(internal=False).select_related("actor").order_by("at", "pk"))
