"""The organisation's bill pages under /org/ (included into namespace "org": no app_name here).
The organisation's UUID is in each route, not in the include, so the access matrix's walk over
the URL configuration sees that these routes name an object."""

from django.urls import path

from ..views import bills

urlpatterns = [
    path("<uuid:org>/bills/", bills.org_bills, name="bills"),
    path("<uuid:org>/bills/statement.csv", bills.org_statement, name="statement"),
    path(
        "<uuid:org>/statements/<int:year>-<int:month>.pdf",
        bills.org_statement_pdf,
        name="statement_pdf",
    ),
]
