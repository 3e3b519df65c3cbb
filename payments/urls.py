"""Bill pages. Three lists of routes, included where their URLs live (portal/urls.py,
urls_me.py, urls_org.py), so the person's pages stay under /me/ (namespace "me") and the
organisation's under /org/<org>/ (namespace "org"). Every route that names an object resolves
it through a selector scoped to who asks (tests/portal/test_access_matrix.py)."""

from django.urls import path

from . import views

app_name = "bills"

# /bills/…
urlpatterns = [
    path("<uuid:bill>/", views.bill_detail, name="detail"),
]

# /me/… (namespace "me")
me_urlpatterns = [
    path("bills/", views.my_bills, name="bills"),
    path("accounts/<uuid:binding>/bills/", views.account_bills, name="account_bills"),
    path("accounts/<uuid:binding>/usage/", views.usage, name="usage"),
]

# /org/… (namespace "org"). The organisation's UUID is in each route, not in the include, so
# the access matrix's walk over the URL configuration sees that these routes name an object.
org_urlpatterns = [
    path("<uuid:org>/bills/", views.org_bills, name="bills"),
    path("<uuid:org>/bills/statement.csv", views.org_statement, name="statement"),
    path(
        "<uuid:org>/statements/<int:year>-<int:month>.pdf",
        views.org_statement_pdf,
        name="statement_pdf",
    ),
]
