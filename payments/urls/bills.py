"""/bills/… (namespace "bills")."""

from django.urls import path

from ..views import bills

app_name = "bills"

urlpatterns = [
    path("<uuid:bill>/", bills.bill_detail, name="detail"),
]
