"""The organisation's bill pages under /org/ (included into namespace "org": no app_name here).
The organisation's UUID is in each route, not in the include, so the access matrix's walk over
the URL configuration sees that these routes name an object."""

from django.urls import path

from .. import views

urlpatterns = [
    path("<uuid:org>/bills/", views.org_bills, name="bills"),
    path("<uuid:org>/bills/statement.csv", views.org_statement, name="statement"),
    path(
        "<uuid:org>/statements/<int:year>-<int:month>.pdf",
        views.org_statement_pdf,
        name="statement_pdf",
    ),
]
