"""Paying bills online: /pay/… (namespace "pay"). Every route that names an attempt resolves it
through ``checkout.attempt_get_for`` (only its creator sees it; tests/portal/test_access_matrix.py).
"""

from django.urls import path

from .. import views_invoices, views_pay, views_webhook

app_name = "pay"

urlpatterns = [
    path("", views_pay.pay_bills, name="bills"),
    path("history/", views_pay.history, name="history"),
    path("<uuid:attempt>/", views_pay.attempt_pay, name="attempt"),
    path("<uuid:attempt>/test-gateway/", views_pay.test_gateway, name="test_gateway"),
    path("<uuid:attempt>/done/", views_pay.attempt_done, name="done"),
    path("<uuid:attempt>/status/", views_pay.attempt_status, name="status"),
    # The payer, or an administrator of the organisation paid for (invoices.py's selector).
    path("<uuid:attempt>/invoice/", views_invoices.invoice_request, name="invoice"),
    path("webhooks/stripe/", views_webhook.stripe_webhook, name="stripe_webhook"),
]
