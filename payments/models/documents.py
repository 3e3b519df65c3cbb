"""Receipts, refund notes and their number series, and VAT invoice requests (docs/receipts.md)."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .online import PaymentAttempt, Refund


# --- Receipts and invoices ------------------------------------------------------------------------
class DocumentSequence(models.Model):
    """The last number handed out in one series (receipts of one year). The row is locked while
    a number is taken, in the transaction that records the payment, so numbers are sequential,
    never reused, and a rolled-back payment leaves no gap."""

    series = models.CharField(max_length=40, unique=True)
    last = models.PositiveBigIntegerField(default=0)

    def __str__(self):
        return f"{self.series} at {self.last}"


class ReceiptKind(models.TextChoices):
    PAYMENT = "payment", _("Payment receipt")
    REFUND = "refund", _("Refund note")


class Receipt(models.Model):
    """A document a customer keeps and shows (电费缴费凭证), or the separate note of a refund.

    ``snapshot`` holds everything printed on it, frozen when the payment (or refund) committed;
    the PDF is rendered from it by a background task and never regenerated differently.
    ``token`` is the unguessable part of the public verification link in its QR code."""

    number = models.CharField(_("receipt number"), max_length=30, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=ReceiptKind.choices)
    attempt = models.ForeignKey(PaymentAttempt, on_delete=models.PROTECT, related_name="receipts")
    refund = models.OneToOneField(
        Refund, null=True, blank=True, on_delete=models.PROTECT, related_name="receipt"
    )
    token = models.CharField(max_length=64, unique=True, editable=False)
    snapshot = models.JSONField(editable=False)
    issued_at = models.DateTimeField(_("issued at"))
    pdf = models.FileField(_("PDF"), upload_to="receipts/%Y/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    rendered_at = models.DateTimeField(_("rendered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("receipt")
        verbose_name_plural = _("receipts")
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["attempt"],
                condition=Q(kind="payment"),
                name="receipt_one_per_payment",
            ),
        ]

    def __str__(self):
        return self.number


class InvoiceStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    ISSUED = "issued", _("Issued")
    REJECTED = "rejected", _("Rejected")


class InvoiceRequest(models.Model):
    """A business asking for a VAT invoice (增值税发票) for an online payment. The billing
    system issues the invoice; the portal records the request, hands it over through the
    billing export, and shows the status the billing system reports back."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    attempt = models.ForeignKey(
        PaymentAttempt, on_delete=models.PROTECT, related_name="invoice_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    title = models.CharField(_("invoice title"), max_length=200)
    tax_number = models.CharField(_("taxpayer number"), max_length=18)
    address = models.CharField(_("registered address"), max_length=200)
    phone = models.CharField(_("telephone"), max_length=30)
    bank_name = models.CharField(_("bank"), max_length=100)
    bank_account = models.CharField(_("bank account"), max_length=40)
    email = models.EmailField(_("e-mail for the invoice"))
    status = models.CharField(
        _("status"), max_length=10, choices=InvoiceStatus.choices, default=InvoiceStatus.REQUESTED
    )
    invoice_number = models.CharField(_("invoice number"), max_length=40, blank=True)
    status_note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("last changed"), auto_now=True)

    class Meta:
        verbose_name = _("VAT invoice request")
        verbose_name_plural = _("VAT invoice requests")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["attempt"],
                condition=~Q(status="rejected"),
                name="invoice_one_open_per_payment",
            ),
        ]

    def __str__(self):
        return f"{self.title} {self.status}"
