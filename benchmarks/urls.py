from django.shortcuts import render
from django.urls import include, path
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView
from wagtail.admin.auth import require_admin_access
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin


def bare(request):
    """The reference: a Django template view with 20 variables, no database, no middleware work
    beyond what every request pays."""
    return render(request, "benchmarks/bare.html", {f"v{i}": i for i in range(20)})


class EmptyAdminPage(WagtailAdminTemplateMixin, TemplateView):
    """The floor of a back-office page: Wagtail's admin shell (menu, header, breadcrumbs) around
    nothing, behind the same checks as every admin URL (admin access, never cached, the
    portal's middleware for /cms-admin/). Any page inside the Wagtail admin costs at least this."""

    page_title = "Empty"
    header_icon = "doc-empty-inverse"


urlpatterns = [
    path("bench/bare/", bare),
    path(
        "cms-admin/bench-empty/",
        never_cache(require_admin_access(EmptyAdminPage.as_view())),
    ),
    path("", include("portal.urls")),
]
