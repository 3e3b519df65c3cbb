"""The staff queue's table, its rows drawn in Python (docs/performance.md, "Staff queue").

Wagtail draws a table cell by cell: each of the page's 500 cells (50 cases, 10 columns) is a
component rendered through its own template with its own context, and each label a
``get_FOO_display()`` that rebuilds its field's choices as a dict. That was about 80 ms of CPU a
page, more than the whole rest of the back office's shell. Here the header is still Wagtail's
(the sort links), and the body is one string per row made with ``format_html`` from the same
values, in the same markup as Wagtail's cell templates: the labels of each field's choices are
translated once per page, the case link is reversed once per page, the deadline's horizon
worked out once per page.
"""

from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.formats import get_format
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from wagtail.admin.templatetags.wagtailadmin_tags import timesince_simple
from wagtail.admin.ui.tables import Column, DateColumn, StatusTagColumn, Table, TitleColumn

from portal.core import clock

from .clocks import warn_horizon
from .models import Case


class QueueTable(Table):
    """Wagtail's table with the header it draws and the body the columns below draw."""

    template_name = "applications/admin/queue_table.html"

    @cached_property
    def body_html(self) -> str:
        columns = list(self.columns.values())
        page = {}  # what every row shares: worked out once, on the first row that needs it
        rows = []
        for instance in self.data:
            cells = "".join(column.cell_html(instance, page) for column in columns)
            rows.append(f"<tr>{cells}</tr>")
        return mark_safe("\n".join(rows))  # noqa: S308 (every cell is format_html's)  # nosec


class CaseLinkColumn(TitleColumn):
    """The case's reference, linked to the case (``url_name`` with the case's pk)."""

    def cell_html(self, instance, page) -> str:
        if "case_url" not in page:
            # One reverse a page: the URL of case 0, split around its pk.
            head, tail = reverse(self.url_name, args=(0,)).rsplit("/0/", 1)
            page["case_url"] = (head + "/", "/" + tail)
        head, tail = page["case_url"]
        return format_html(
            '<td class="title"><div class="title-wrapper"><a href="{}{}{}">{}</a></div></td>',
            head,
            instance.pk,
            tail,
            getattr(instance, self.accessor) or self.empty_value_display,
        )


class ChoiceColumn(Column):
    """A field with choices, shown by its label in the reader's language."""

    def cell_html(self, instance, page) -> str:
        key = ("labels", self.name)
        if key not in page:
            field = Case._meta.get_field(self.name)
            page[key] = {value: str(label) for value, label in field.flatchoices}
        value = getattr(instance, self.name)
        return format_html("<td>{}</td>", page[key].get(value, value))


class TextColumn(Column):
    def cell_html(self, instance, page) -> str:
        value = getattr(instance, self.accessor)
        return format_html("<td>{}</td>", "" if value is None else value)


class DueColumn(DateColumn):
    """The deadline as Wagtail's ``human_readable_date`` shows it: "in 3 days" with the exact
    date and time in a tooltip."""

    def cell_html(self, instance, page) -> str:
        value = getattr(instance, self.accessor)
        if not value:
            return "<td></td>"
        if "datetime_format" not in page:
            page["datetime_format"] = get_format("DATETIME_FORMAT") or "N j, Y, P"
        # As the template's |date does: in the reader's time zone (Wagtail's preference).
        local = value.astimezone(timezone.get_current_timezone())
        return format_html(
            '<td><button type="button" class="w-human-readable-date" '
            'data-controller="w-tooltip" data-w-tooltip-content-value="{}" '
            'data-w-tooltip-placement-value="top">'
            '<time class="w-human-readable-date__date" datetime="{}">{}</time></button></td>',
            date_format(local, page["datetime_format"]),
            local.isoformat(),
            capfirst(timesince_simple(value)),
        )


class DeadlineColumn(StatusTagColumn):
    """The queue's warning, as the deadline watch judges it: overdue, or due by the end of the
    next working day (when staff are e-mailed); nothing otherwise. The horizon is worked out
    once per page."""

    def cell_html(self, instance, page) -> str:
        if "deadline" not in page:
            page["deadline"] = (clock.now(), warn_horizon(), _("Overdue"), _("Due soon"))
        now, horizon, overdue, soon = page["deadline"]
        label, classname = "", "w-status"
        if instance.is_open and instance.due_at is not None:
            if instance.due_at <= now:
                label, classname = overdue, "w-status w-status--primary"
            elif instance.due_at <= horizon:
                label = soon
        return format_html('<td><span class="{}">{}</span></td>', classname, label)


class AssigneeColumn(Column):
    def cell_html(self, instance, page) -> str:
        user = instance.assignee
        return format_html("<td>{}</td>", "" if user is None else str(user))
