"""Receipts and refund notes: /receipts/… (namespace "receipts"). A document is named by its
number; who may download it is decided by ``receipts.receipt_get_for`` (404 for anyone else).
The verification page is public and named by the token printed in the document's QR code."""

from django.urls import path

from ..views import receipts

app_name = "receipts"

urlpatterns = [
    path("verify/<str:token>/", receipts.receipt_verify, name="verify"),
    path("<str:number>/pdf/", receipts.receipt_download, name="pdf"),
]
