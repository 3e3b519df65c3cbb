"""The manager's dashboard in the back office, /cms-admin/applications-dashboard/ (registered by
``wagtail_hooks``): the figures of ``applications.dashboard`` for a month and a district, as
charts with the same figures in tables, and as a CSV file. Needs
``applications.view_dashboard`` (the Service staff group holds it; editors do not)."""

from django import forms
from django.contrib.auth.decorators import permission_required
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from portal.core import clock
from portal.core.replica import reads_may_lag
from portal.csv_export import csv_download

from .dashboard import dashboard_charts, dashboard_districts, dashboard_figures, dashboard_rows

DASHBOARD_PERMISSION = "applications.view_dashboard"
dashboard_required = permission_required(DASHBOARD_PERMISSION, raise_exception=True)


class DashboardFilterForm(forms.Form):
    month = forms.DateField(
        label=gettext_lazy("Month"),
        required=False,
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
    )
    district = forms.ChoiceField(label=gettext_lazy("District"), required=False)

    def __init__(self, *args, districts: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["district"].choices = [("", _("All districts"))] + [(d, d) for d in districts]


def _filtered(request):
    """The filter form as the manager sent it, and the figures it asks for (the current month
    and every district when nothing, or nothing valid, was chosen)."""
    form = DashboardFilterForm(
        request.GET or None,
        districts=dashboard_districts(),
        initial={"month": clock.today()},
    )
    month, district = clock.today(), ""
    if form.is_bound and form.is_valid():
        month = form.cleaned_data["month"] or month
        district = form.cleaned_data["district"]
    return form, dashboard_figures(month=month, district=district)


class DashboardView(WagtailAdminTemplateMixin, TemplateView):
    template_name = "applications/admin/dashboard.html"
    page_title = gettext_lazy("Applications dashboard")
    header_icon = "table"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form, figures = _filtered(self.request)
        query = "?" + urlencode({"month": f"{figures.month:%Y-%m}", "district": figures.district})
        context.update(
            form=form,
            figures=figures,
            charts=dashboard_charts(figures),
            export_url=reverse("applications_dashboard_export") + query,
        )
        return context


# The figures may read from the read replica (portal/core/replica.py): a month's counts a few
# seconds old say the same. The permission is checked first, on the primary.
dashboard = dashboard_required(reads_may_lag(DashboardView.as_view()))


@dashboard_required
@reads_may_lag
def dashboard_export(request):
    _form, figures = _filtered(request)
    return csv_download(
        filename=f"applications-dashboard-{figures.month:%Y-%m}.csv",
        header=[_("Figure"), _("Item"), _("Count"), _("Value")],
        rows=dashboard_rows(figures),
    )
