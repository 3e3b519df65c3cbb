"""Paying bills online: /pay/… (namespace "pay"). Every route that names an attempt resolves it
through ``checkout.attempt_get_for`` (only its creator sees it; tests/portal/test_access_matrix.py).
"""

from django.urls import path

from ..views import invoices, pay, webhook

app_name = "pay"

urlpatterns = [
    path("", pay.pay_bills, name="bills"),
    path("history/", pay.history, name="history"),
    path("<uuid:attempt>/", pay.attempt_pay, name="attempt"),
    path("<uuid:attempt>/test-gateway/", pay.test_gateway, name="test_gateway"),
    path("<uuid:attempt>/done/", pay.attempt_done, name="done"),
    path("<uuid:attempt>/status/", pay.attempt_status, name="status"),
    # The payer, or an administrator of the organisation paid for (invoices.py's selector).
    path("<uuid:attempt>/invoice/", invoices.invoice_request, name="invoice"),
    path("webhooks/stripe/", webhook.stripe_webhook, name="stripe_webhook"),
]
