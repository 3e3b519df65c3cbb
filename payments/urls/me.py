"""The person's bill pages under /me/ (included into namespace "me": no app_name here)."""

from django.urls import path

from ..views import bills

urlpatterns = [
    path("bills/", bills.my_bills, name="bills"),
    path("accounts/<uuid:binding>/bills/", bills.account_bills, name="account_bills"),
    path("accounts/<uuid:binding>/usage/", bills.usage, name="usage"),
]
