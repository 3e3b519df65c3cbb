"""Reading cases for the person who asks (docs/applications.md). Anything else is "not found".

- **A person's own case** (no organisation): the applicant's, and also that of whoever holds an
  active personal binding of its account (a case staff opened for a customer who phoned appears
  in their list once they bind the account).
- **An organisation's case**: its administrators', and the members' who hold the ``apply`` scope
  on the case's account. A case without an account (a new connection: the account comes when it
  is energised) is the organisation's as a whole: it is seen by every member who may apply for
  the organisation at all (``apply`` on at least one of its accounts), the same people who may
  start one. A case staff opened on an account the organisation has bound is the organisation's
  in the same way. Leaving the organisation, or losing the scope, ends the view of its cases,
  the applicant's own included: the case is the organisation's business, not theirs.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import reduce
from operator import or_
from uuid import UUID

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
from django.http import Http404

from portal.core import clock
from portal.core.calendar import business_calendar
from portal.models import Binding, Membership, Scope, User
from portal.selectors import membership_list_for, org_bindings_for

from .models import Case, CaseEvent, StepClock, TimeUnit


def _personal(user: User) -> Q:
    bound = Binding.objects.active().filter(user=user, account_id=OuterRef("account_id"))
    return Q(organisation__isnull=True) & (Q(applicant=user) | Q(Exists(bound)))


def may_apply_for(*, membership: Membership) -> bool:
    """Whether the member may apply for the organisation at all: administrators always, members
    with the ``apply`` scope on at least one of its accounts."""
    return (
        membership.is_admin or org_bindings_for(membership=membership, scope=Scope.APPLY).exists()
    )


def _organisation(membership: Membership) -> Q:
    """The cases of ``membership``'s organisation that the member may see (module docstring)."""
    bindings = org_bindings_for(membership=membership, scope=Scope.APPLY)
    on_account = Q(Exists(bindings.filter(account_id=OuterRef("account_id"))))
    own = Q(organisation_id=membership.organisation_id)
    no_account = Q(account__isnull=True)
    if not membership.is_admin:
        no_account &= Q(Exists(bindings))
    opened_by_staff = Q(organisation__isnull=True, applicant__isnull=True) & on_account
    return (own & (on_account | no_account)) | opened_by_staff


def _listed(cases: QuerySet[Case]) -> QuerySet[Case]:
    return cases.select_related(
        "kind_version__kind", "account", "organisation", "applicant"
    ).order_by("-created_at")


def case_workers() -> QuerySet[User]:
    """Everyone who may be given a case: active members of a group holding ``work_case``, and
    superusers."""
    return (
        User.objects.filter(
            Q(groups__permissions__codename="work_case") | Q(is_superuser=True), is_active=True
        )
        .distinct()
        .order_by("name", "email")
    )


def case_list_for(*, user: User) -> QuerySet[Case]:
    """The person's own cases (an organisation's are listed under the organisation)."""
    return _listed(Case.objects.filter(_personal(user)))


def org_case_list_for(*, membership: Membership) -> QuerySet[Case]:
    """The organisation's cases this member may see."""
    return _listed(Case.objects.filter(_organisation(membership)))


def case_get_for(*, user: User, uuid: UUID | str) -> Case:
    """One case the person may see, personal or an organisation's, or 404. The case carries
    ``membership``: the membership through which it is seen when it is not the person's own
    (the views ask its administrators for two factors, as every organisation page does)."""
    memberships = list(membership_list_for(user=user))
    via = {f"via_{m.pk}": _organisation(m) for m in memberships}
    visible = reduce(or_, via.values(), _personal(user))
    try:
        case = (
            _listed(Case.objects.filter(visible))
            .annotate(
                personal=ExpressionWrapper(_personal(user), output_field=BooleanField()),
                **{
                    name: ExpressionWrapper(condition, output_field=BooleanField())
                    for name, condition in via.items()
                },
            )
            .get(uuid=uuid)
        )
    except (Case.DoesNotExist, ValueError):
        raise Http404 from None
    case.membership = None
    if not case.personal:
        case.membership = next(m for m in memberships if getattr(case, f"via_{m.pk}"))
    return case


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
    """The running clock of the case's step."""
    return StepClock.objects.filter(case=case, finished_at__isnull=True, whole_case=False).first()


def whole_clock(case: Case) -> StepClock | None:
    """The running clock of the whole application, when its kind promises one."""
    return StepClock.objects.filter(case=case, finished_at__isnull=True, whole_case=True).first()


def timeline_for_customer(case: Case) -> list[CaseEvent]:
    """Every event the customer may read, oldest first (no internal notes or deadline records)."""
    return list(case.events.filter(internal=False).select_related("actor").order_by("at", "pk"))
