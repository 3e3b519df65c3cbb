"""The customer's application pages, at /me/applications/ (namespace "applications")."""

from django.urls import path

from . import views

app_name = "applications"

urlpatterns = [
    path("", views.case_list, name="list"),
    path("new/", views.case_start, name="start"),
    path("<uuid:uuid>/", views.case_detail, name="detail"),
    path("<uuid:uuid>/edit/", views.case_draft, name="draft"),
    path("<uuid:uuid>/review/", views.case_review, name="review"),
    path("<uuid:uuid>/documents/", views.document_upload, name="upload"),
    path("<uuid:uuid>/documents/<uuid:document>/", views.document_download, name="document"),
    path(
        "<uuid:uuid>/documents/<uuid:document>/remove/",
        views.document_remove,
        name="document_remove",
    ),
    path("<uuid:uuid>/answer/", views.case_answer, name="answer"),
    path("<uuid:uuid>/withdraw/", views.case_withdraw, name="withdraw"),
]
