"""Wagtail admin for applications (docs/applications.md):

- /cms-admin/commitments/: the published service-commitment sets; service staff correct a set's
  figures and dates, or add the next one, with its time limits inline. Every create, edit and
  delete writes an audit record in the same transaction.
- /cms-admin/applications/: the staff's queue of cases (``admin_views``).
- /cms-admin/applications-dashboard/: the manager's dashboard (``dashboard_views``).
- /cms-admin/application-kinds/ and /cms-admin/kind-versions/: the kinds of application, opened
  or closed, and their versions' steps and documents; a version cases were made with is never
  changed in place (``kind_admin``).
"""

from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import MenuItem
from wagtail.admin.panels import FieldPanel, FieldRowPanel, InlinePanel, ObjectList
from wagtail.permissions import register_permission_policy

from portal.core.wagtail_admin import (
    AuditedModelViewSet,
    ReadOnlyModelViewSet,
    ReadOnlyPermissionPolicy,
    audited_views,
)

from .admin_views import (
    CaseActionView,
    CaseFilterSet,
    CaseIndexView,
    CaseInspectView,
    OpenView,
    staff_document_download,
    work_required,
)
from .dashboard_views import DASHBOARD_PERMISSION, dashboard, dashboard_export
from .kind_admin import KindAdminGroup
from .models import Case, CommitmentRuleSet
from .queue_table import (
    AssigneeColumn,
    CaseLinkColumn,
    ChoiceColumn,
    DeadlineColumn,
    DueColumn,
    TextColumn,
)


def _rule_set_data(rule_set: CommitmentRuleSet) -> dict:
    return {
        "code": rule_set.code,
        "company": rule_set.company,
        "name": rule_set.name,
        "effective_from": rule_set.effective_from.isoformat() if rule_set.effective_from else "",
        "rules": [
            [rule.commitment, rule.customer_class, rule.amount, rule.unit]
            for rule in rule_set.rules.all()
        ],
    }


_set_create, _set_edit, _set_delete = audited_views("commitments.set", _rule_set_data)


class CommitmentRuleSetViewSet(AuditedModelViewSet):
    model = CommitmentRuleSet
    icon = "time"
    menu_label = _("Service commitments")
    url_prefix = "commitments"
    add_to_admin_menu = True
    menu_order = 320
    add_view_class = _set_create
    edit_view_class = _set_edit
    delete_view_class = _set_delete
    list_display = ["name", "company", "code", "effective_from"]
    edit_handler = ObjectList(
        [
            FieldRowPanel([FieldPanel("code"), FieldPanel("effective_from")]),
            FieldRowPanel([FieldPanel("company"), FieldPanel("name")]),
            FieldPanel("source"),
            InlinePanel(
                "rules",
                label=_("Time limits"),
                panels=[
                    FieldRowPanel([FieldPanel("commitment"), FieldPanel("customer_class")]),
                    FieldRowPanel([FieldPanel("amount"), FieldPanel("unit")]),
                    FieldPanel("note"),
                ],
            ),
        ]
    )


@hooks.register("register_admin_viewset")
def register_commitments():
    return CommitmentRuleSetViewSet("commitments")


# --- The application queue ------------------------------------------------------------------------
# Cases change only through applications.cases: nobody adds, edits or deletes one here.
register_permission_policy(Case, ReadOnlyPermissionPolicy(Case))


class CaseViewSet(ReadOnlyModelViewSet):
    model = Case
    icon = "tasks"
    menu_label = _("Applications")
    menu_order = 305
    add_to_admin_menu = True
    url_prefix = "applications"
    list_per_page = 50
    index_view_class = CaseIndexView
    filterset_class = CaseFilterSet
    search_fields = ["reference", "address", "contact_name", "contact_phone"]
    search_backend_name = None
    inspect_view_class = CaseInspectView
    inspect_view_fields = [
        "reference",
        "status",
        "step",
        "category",
        "customer_class",
        "channel",
        "applicant",
        "opened_by",
        "account",
        "contact_name",
        "contact_phone",
        "district",
        "address",
        "capacity_kva",
        "description",
        "assignee",
        "submitted_at",
        "accepted_at",
        "closed_at",
        "close_reason",
    ]

    @property
    def list_display(self):
        return [
            CaseLinkColumn(
                "reference", label=_("Reference"), url_name=self.get_url_name("inspect")
            ),
            ChoiceColumn("category", label=_("Kind")),
            ChoiceColumn("customer_class", label=_("Class")),
            TextColumn("district", label=_("District")),
            ChoiceColumn("status", label=_("Status")),
            ChoiceColumn("step", label=_("Step")),
            DueColumn("due_at", label=_("Due"), sort_key="due_at"),
            DeadlineColumn("deadline", label=_("Deadline"), accessor="due_at"),
            AssigneeColumn("assignee", label=_("Assigned to")),
            ChoiceColumn("channel", label=_("Channel")),
        ]

    def get_index_view_kwargs(self, **kwargs):
        return super().get_index_view_kwargs(open_url_name=self.get_url_name("open"), **kwargs)

    def get_inspect_view_kwargs(self, **kwargs):
        return super().get_inspect_view_kwargs(
            action_url_name=self.get_url_name("act"),
            document_url_name=self.get_url_name("document"),
            **kwargs,
        )

    @property
    def act_view(self):
        view = CaseActionView.as_view(inspect_url_name=self.get_url_name("inspect"))
        return work_required(view)

    @property
    def open_view(self):
        view = OpenView.as_view(inspect_url_name=self.get_url_name("inspect"))
        return work_required(view)

    def extra_urlpatterns(self):
        conv = self.pk_path_converter
        return [
            path("open/", self.open_view, name="open"),
            path(f"act/<{conv}:pk>/", self.act_view, name="act"),
            path(
                f"document/<{conv}:pk>/<uuid:document>/",
                staff_document_download,
                name="document",
            ),
        ]


@hooks.register("register_admin_viewset")
def register_case_queue():
    return CaseViewSet("application_queue")


# --- The manager's dashboard (quality) ------------------------------------------------------------
class DashboardMenuItem(MenuItem):
    def is_shown(self, request):
        return request.user.has_perm(DASHBOARD_PERMISSION)


@hooks.register("register_admin_urls")
def register_dashboard_urls():
    return [
        path("applications-dashboard/", dashboard, name="applications_dashboard"),
        path(
            "applications-dashboard/export/",
            dashboard_export,
            name="applications_dashboard_export",
        ),
    ]


@hooks.register("register_admin_menu_item")
def register_dashboard_menu_item():
    # Right after the queue (menu_order 305).
    return DashboardMenuItem(
        _("Applications dashboard"),
        reverse("applications_dashboard"),
        name="applications-dashboard",
        icon_name="table",
        order=306,
    )


# --- Kinds of application and their versions ------------------------------------------------------
@hooks.register("register_admin_viewset")
def register_kinds():
    return KindAdminGroup()
