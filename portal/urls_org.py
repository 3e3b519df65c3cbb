"""Organisation pages. Every route that names an object is resolved through a selector scoped
to the signed-in member (404 otherwise); tests/portal/test_access_matrix.py enforces it."""

from django.urls import include, path

from .org_access import org_member_required
from .views import binding, org, org_accounts

app_name = "org"

urlpatterns = [
    path("new/", org.organisation_create, name="create"),
    path("invitations/<str:token>/", org.invitation_accept, name="invitation_accept"),
    path("<uuid:org>/", org_accounts.account_table, name="accounts"),
    path("<uuid:org>/accounts/export.csv", org_accounts.account_export, name="export"),
    path(
        "<uuid:org>/accounts/bind/",
        org_member_required(binding.bind, admin=True),
        name="bind",
    ),
    path(
        "<uuid:org>/accounts/bind/code/<uuid:challenge>/",
        org_member_required(binding.bind_code, admin=True),
        name="bind_code",
    ),
    path("<uuid:org>/accounts/<uuid:binding>/", org_accounts.account_detail, name="account"),
    path(
        "<uuid:org>/accounts/<uuid:binding>/unbind/",
        org_member_required(binding.unbind),
        name="unbind",
    ),
    path("", include("payments.urls.org")),
    path("", include("applications.urls_org")),
    path("<uuid:org>/members/", org.members, name="members"),
    path("<uuid:org>/members/<uuid:membership>/", org.member_detail, name="member"),
    path(
        "<uuid:org>/members/<uuid:membership>/remove/",
        org.member_remove,
        name="member_remove",
    ),
    path(
        "<uuid:org>/invitations/<uuid:invitation>/revoke/",
        org.invitation_revoke,
        name="invitation_revoke",
    ),
]
