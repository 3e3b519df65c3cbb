"""Organisation pages. Every route that names an object is resolved through a selector scoped
to the signed-in member (404 otherwise); tests/portal/test_access_matrix.py enforces it."""

from django.urls import include, path

from . import views_binding, views_org, views_org_accounts
from .org_access import org_member_required

app_name = "org"

urlpatterns = [
    path("new/", views_org.organisation_create, name="create"),
    path("invitations/<str:token>/", views_org.invitation_accept, name="invitation_accept"),
    path("<uuid:org>/", views_org_accounts.account_table, name="accounts"),
    path("<uuid:org>/accounts/export.csv", views_org_accounts.account_export, name="export"),
    path(
        "<uuid:org>/accounts/bind/",
        org_member_required(views_binding.bind, admin=True),
        name="bind",
    ),
    path(
        "<uuid:org>/accounts/bind/code/<uuid:challenge>/",
        org_member_required(views_binding.bind_code, admin=True),
        name="bind_code",
    ),
    path("<uuid:org>/accounts/<uuid:binding>/", views_org_accounts.account_detail, name="account"),
    path(
        "<uuid:org>/accounts/<uuid:binding>/unbind/",
        org_member_required(views_binding.unbind),
        name="unbind",
    ),
    path("", include("payments.urls.org")),
    path("<uuid:org>/members/", views_org.members, name="members"),
    path("<uuid:org>/members/<uuid:membership>/", views_org.member_detail, name="member"),
    path(
        "<uuid:org>/members/<uuid:membership>/remove/",
        views_org.member_remove,
        name="member_remove",
    ),
    path(
        "<uuid:org>/invitations/<uuid:invitation>/revoke/",
        views_org.invitation_revoke,
        name="invitation_revoke",
    ),
]
