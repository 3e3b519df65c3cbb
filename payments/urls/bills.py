"""/bills/… (namespace "bills")."""

from django.urls import path

from .. import views

app_name = "bills"

urlpatterns = [
    path("<uuid:bill>/", views.bill_detail, name="detail"),
]
