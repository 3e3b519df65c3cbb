"""The CMS's additions to the Wagtail admin: "Notices", a flat list of every notice (draft,
in review, scheduled, live or expired) with what an editor and a reviewer look at first: its
kind, start, districts, status, and the flag of a planned outage announced less than 7 days
ahead (docs/cms.md, "Editorial workflow"). Filters: kind, the flag, where a notice came from
(an editor or the outage management system) and when it starts.

Shown to whoever may add, edit or publish pages (Wagtail's own page permissions): editors and
reviewers; service staff only if an operator grants them page rights.
"""

import django_filters
from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.filters import DateRangePickerWidget
from wagtail.admin.menu import MenuItem
from wagtail.admin.ui.tables import Column, DateColumn, StatusFlagColumn
from wagtail.admin.ui.tables.pages import PageStatusColumn, PageTitleColumn
from wagtail.admin.viewsets.pages import PageListingViewSet
from wagtail.permissions import page_permission_policy

from .models import NoticeKind, NoticePage, NoticeSource
from .reach import CANCELLED
from .translation import serve_in_language

# Each page in the visitor's language where it is translated (cms/translation.py); first in the
# chain, so Wagtail's own view restriction check sees the page actually served.
hooks.register("on_serve_page", serve_in_language, order=-1)


@hooks.register("register_log_actions")
def register_outage_log_actions(actions):
    """An outage notice's history shows its cancellations (``cms.reach.outage_cancel``)."""
    actions.register_action(
        CANCELLED,
        _("Cancel outage"),
        _("Outage cancelled: the customers told of it are told"),
    )


class NoticeFilterSet(PageListingViewSet.filterset_class):
    kind = django_filters.ChoiceFilter(
        label=_("Notice type"), choices=NoticeKind.choices, empty_label=_("Any")
    )
    short_notice = django_filters.BooleanFilter(
        label=_("Less than 7 days' notice"),
        widget=forms.RadioSelect(choices=[("", _("Any")), ("true", _("Yes")), ("false", _("No"))]),
    )
    source = django_filters.ChoiceFilter(
        label=_("Source"), choices=NoticeSource.choices, empty_label=_("Any")
    )
    starts_at = django_filters.DateFromToRangeFilter(
        label=_("Starts"), widget=DateRangePickerWidget
    )

    class Meta:
        model = NoticePage
        fields = []


def _districts(notice: NoticePage) -> str:
    return gettext(", ").join(notice.districts or [])


class NoticesMenuItem(MenuItem):
    """Shown to those the list lets in (Wagtail's listing asks the same page permissions)."""

    def is_shown(self, request):
        return page_permission_policy.user_has_any_permission(
            request.user, {"add", "change", "publish"}
        )


class NoticeListingViewSet(PageListingViewSet):
    model = NoticePage
    icon = "warning"
    menu_label = _("Notices")
    menu_order = 150
    add_to_admin_menu = True
    menu_item_class = NoticesMenuItem
    filterset_class = NoticeFilterSet
    columns = [
        PageTitleColumn("title", label=_("Title"), sort_key="title", classname="title"),
        Column("kind", label=_("Notice type"), accessor="get_kind_display", sort_key="kind"),
        DateColumn("starts_at", label=_("Starts"), sort_key="starts_at"),
        Column("districts", label=_("Districts"), accessor=_districts),
        PageStatusColumn("status", label=_("Status"), sort_key="live"),
        StatusFlagColumn(
            "short_notice",
            label=_("Notice period"),
            true_label=_("Less than 7 days' notice"),
            sort_key="short_notice",
        ),
    ]


@hooks.register("register_admin_viewset")
def register_notice_listing():
    return NoticeListingViewSet("notices")
