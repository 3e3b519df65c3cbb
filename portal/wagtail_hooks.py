"""Wagtail admin for the portal app: read-only viewers of the audit log and of the rows the
scheduled jobs skipped (job problems; docs/operations.md), and the working-day calendar's days
that staff enter (next year's holidays and adjusted working days before the calendar library
knows them; docs/time.md).

Superusers, and staff whose group has "Can view audit event", can list the log with filters and
open one event. Nobody can create, edit or delete an event here: the views do not exist, and the
permission policy refuses those actions even to superusers (the log is written only by
portal.core.audit.audit_record). Job problems are shown the same way to staff with "Can view job
problem" (written only by portal.core.jobs).
"""

import django_filters
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.filters import DateRangePickerWidget, WagtailFilterSet
from wagtail.permissions import register_permission_policy

from .core.wagtail_admin import (
    AuditedModelViewSet,
    ReadOnlyModelViewSet,
    ReadOnlyPermissionPolicy,
    audited_views,
)
from .models import AuditEvent, CalendarDay, JobProblem

# Registered at import, before the viewset looks for a policy (Wagtail 8's recommended way).
register_permission_policy(AuditEvent, ReadOnlyPermissionPolicy(AuditEvent))
register_permission_policy(JobProblem, ReadOnlyPermissionPolicy(JobProblem))


class AuditEventFilterSet(WagtailFilterSet):
    # Prefix match on an indexed column: "auth." lists every sign-in event, and it stays fast on
    # a long log (a contains-search would scan the table).
    action = django_filters.CharFilter(
        label=_("Action"),
        lookup_expr="startswith",
        help_text=_('An action, or how it starts (for example "auth.").'),
    )
    occurred_at = django_filters.DateFromToRangeFilter(
        label=_("Date"), widget=DateRangePickerWidget
    )
    actor_id = django_filters.NumberFilter(label=_("Actor (user id)"))
    object_ref = django_filters.CharFilter(label=_("Object"))
    request_id = django_filters.CharFilter(label=_("Request id"))

    class Meta:
        model = AuditEvent
        fields = ["action", "occurred_at", "actor_id", "object_ref", "request_id"]


class AuditEventViewSet(ReadOnlyModelViewSet):
    model = AuditEvent
    icon = "list-ul"
    menu_label = _("Audit log")
    menu_order = 9000
    add_to_admin_menu = True
    url_prefix = "audit-log"
    ordering = ["-seq"]
    list_per_page = 50
    list_display = ["seq", "occurred_at", "action", "actor_role", "actor_id", "object_ref", "ip"]
    filterset_class = AuditEventFilterSet
    inspect_view_fields = [
        "seq",
        "occurred_at",
        "action",
        "actor_id",
        "actor_role",
        "object_ref",
        "ip",
        "user_agent",
        "request_id",
        "data",
        "key_id",
        "prev_mac",
        "mac",
    ]


@hooks.register("register_admin_viewset")
def register_audit_log_viewer():
    return AuditEventViewSet("audit_log")


# --- Job problems --------------------------------------------------------------------------------
class JobProblemFilterSet(WagtailFilterSet):
    job = django_filters.CharFilter(label=_("Job"))
    last_seen = django_filters.DateFromToRangeFilter(
        label=_("Last seen"), widget=DateRangePickerWidget
    )

    class Meta:
        model = JobProblem
        fields = ["job", "last_seen"]


class JobProblemViewSet(ReadOnlyModelViewSet):
    """Rows the scheduled jobs skipped (portal.core.jobs; docs/operations.md), read-only: a
    problem is fixed where its row lives, and the record says when it was last met."""

    model = JobProblem
    icon = "warning"
    menu_label = _("Job problems")
    menu_order = 8990
    add_to_admin_menu = True
    url_prefix = "job-problems"
    ordering = ["-last_seen", "-pk"]
    list_per_page = 50
    list_display = ["last_seen", "job", "step", "row", "error", "count", "first_seen"]
    filterset_class = JobProblemFilterSet
    inspect_view_fields = [
        "job",
        "step",
        "row",
        "error",
        "count",
        "first_seen",
        "last_seen",
        "traceback",
    ]


@hooks.register("register_admin_viewset")
def register_job_problems():
    return JobProblemViewSet("job_problems")


# --- Working-day calendar ------------------------------------------------------------------------
def _calendar_day_data(day: CalendarDay) -> dict:
    return {"day": day.day.isoformat(), "working": day.working, "note": day.note}


_day_create, _day_edit, _day_delete = audited_views("calendar.day", _calendar_day_data)


class CalendarDayViewSet(AuditedModelViewSet):
    model = CalendarDay
    url_prefix = "calendar-days"
    menu_label = _("Working days")
    icon = "date"
    add_to_admin_menu = True
    menu_order = 310
    add_view_class = _day_create
    edit_view_class = _day_edit
    delete_view_class = _day_delete
    list_display = ["day", "working", "note", "updated_at"]
    list_filter = ["working"]
    form_fields = ["day", "working", "note"]


@hooks.register("register_admin_viewset")
def register_calendar_days():
    return CalendarDayViewSet("calendar_days")


from . import wagtail_admin_integration  # noqa: E402, F401  (registers its own hooks)
