"""An organisation's application pages under /org/ (included into namespace "org": no app_name
here, as payments.urls.org). The organisation's UUID is in each route, so the access matrix's
walk over the URL configuration sees that these routes name an object. The cases themselves open
at /me/applications/<uuid>/ (``applications.urls``), for whoever may see them."""

from django.urls import path

from . import views

urlpatterns = [
    path("<uuid:org>/applications/", views.org_case_list, name="applications"),
    path("<uuid:org>/applications/new/", views.org_case_start, name="application_start"),
]
