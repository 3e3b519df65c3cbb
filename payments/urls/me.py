"""The person's bill pages under /me/ (included into namespace "me": no app_name here)."""

from django.urls import path

from .. import views

urlpatterns = [
    path("bills/", views.my_bills, name="bills"),
    path("accounts/<uuid:binding>/bills/", views.account_bills, name="account_bills"),
    path("accounts/<uuid:binding>/usage/", views.usage, name="usage"),
]
