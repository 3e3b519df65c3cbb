"""Online payment: attempts and their bills, the local test gateway's intents, webhook events,
refunds, reconnection requests and the billing export (docs/payments.md)."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from portal.billing_messages import BillingMessageKind
from portal.models import ServiceAccount

from .bills import Bill
from .fields import MONEY
from .ledger import LedgerEntry


# --- Online payment -------------------------------------------------------------------------------
class Gateway(models.TextChoices):
    STRIPE = "stripe", _("Stripe")
    LOCAL = "local", _("Test payment (local)")


class AttemptStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for payment")
    """Created; the customer has not paid (yet). The PaymentIntent may exist."""
    PROCESSING = "processing", _("Processing")
    """The provider is working on it (some payment methods take a while)."""
    SUCCEEDED = "succeeded", _("Paid")
    """The money was received and posted to the ledger."""
    FAILED = "failed", _("Failed")
    """The last try was declined; the customer may try again the same day."""
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")
    """Not paid by the end of its day: the amounts it froze no longer hold."""


OPEN_ATTEMPT_STATUSES = (AttemptStatus.PENDING, AttemptStatus.PROCESSING, AttemptStatus.FAILED)


class PaymentAttempt(models.Model):
    """One payment of one or more bills, with its amount frozen when the customer chose them.

    The amount is what the bills and their penalties cost on ``business_date`` (Asia/Shanghai),
    and it is honoured even if the money arrives after midnight; unpaid, the attempt expires at
    the end of that day. ``uuid`` travels to the provider in the PaymentIntent's metadata, and
    the amount, currency and UUID are compared with the provider's before anything is credited
    (payments/fulfilment.py). ``idempotency_key`` is sent on every create, so our own retries
    get back the PaymentIntent Stripe already made.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payment_attempts"
    )
    organisation = models.ForeignKey(
        "portal.Organisation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payment_attempts",
        help_text=_("Paid on behalf of this organisation (by a member with the pay scope)."),
    )
    amount = models.DecimalField(_("amount"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3, default="cny")
    business_date = models.DateField(
        _("priced on"), help_text=_("The Asia/Shanghai date whose amounts were frozen.")
    )
    expires_at = models.DateTimeField(_("expires at"))
    gateway = models.CharField(_("gateway"), max_length=10, choices=Gateway.choices)
    intent_id = models.CharField(
        _("provider payment id"), max_length=64, null=True, blank=True, unique=True
    )
    client_secret = models.CharField(max_length=200, blank=True, editable=False)
    idempotency_key = models.CharField(max_length=80, unique=True, editable=False)
    status = models.CharField(
        _("status"), max_length=12, choices=AttemptStatus.choices, default=AttemptStatus.PENDING
    )
    failure_message = models.CharField(_("reason"), max_length=300, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    payment_method = models.CharField(_("payment method"), max_length=40, blank=True)
    refunded = models.DecimalField(_("refunded"), **MONEY, default=Decimal("0.00"))
    needs_review = models.CharField(
        _("needs a person"),
        max_length=300,
        blank=True,
        help_text=_("Why staff must look at this payment (an amount or currency mismatch …)."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("last changed"), auto_now=True)

    class Meta:
        verbose_name = _("online payment")
        verbose_name_plural = _("online payments")
        ordering = ["-created_at", "-id"]
        permissions = [("refund_paymentattempt", _("Can refund online payments"))]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="attempt_status_expiry"),
            models.Index(fields=["created_by", "-created_at"], name="attempt_user_recent"),
            models.Index(fields=["created_at"], name="attempt_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="attempt_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded__gte=0) & Q(refunded__lte=F("amount")),
                name="attempt_refund_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(status__in=AttemptStatus.values), name="attempt_status_valid"
            ),
        ]

    def __str__(self):
        return f"{self.uuid} {self.amount} {self.status}"

    @property
    def reference(self) -> str:
        """How ledger entries, exports and receipts name this payment."""
        return f"WEB-{self.uuid.hex[:16].upper()}"

    @property
    def refundable(self) -> Decimal:
        if self.status != AttemptStatus.SUCCEEDED:
            return Decimal("0.00")
        return self.amount - self.refunded


class AttemptBill(models.Model):
    """A bill an attempt pays, with what it owed on the attempt's date (frozen)."""

    attempt = models.ForeignKey(PaymentAttempt, on_delete=models.CASCADE, related_name="items")
    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="attempt_items")
    principal = models.DecimalField(_("amount"), **MONEY)
    penalty = models.DecimalField(_("penalty"), **MONEY)
    entry = models.OneToOneField(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("bill paid online")
        verbose_name_plural = _("bills paid online")
        ordering = ["attempt", "bill_id"]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "bill"], name="attemptbill_unique"),
            models.CheckConstraint(
                condition=Q(principal__gte=0) & Q(penalty__gte=0), name="attemptbill_not_negative"
            ),
        ]

    def __str__(self):
        return f"{self.bill_id} {self.principal}+{self.penalty}"

    @property
    def total(self) -> Decimal:
        return self.principal + self.penalty


class LocalIntent(models.Model):
    """The local test gateway's own record of a payment, shaped like a Stripe PaymentIntent, so
    the return page and reconciliation can ask it what happened, as they ask Stripe. Development
    and tests only: production refuses to start without Stripe keys."""

    intent_id = models.CharField(max_length=64, unique=True)
    amount = models.PositiveBigIntegerField(help_text="fen")
    currency = models.CharField(max_length=3)
    attempt_uuid = models.UUIDField()
    status = models.CharField(max_length=40, default="requires_payment_method")
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.intent_id} {self.status}"


REJECTION_REASON_LENGTH = 300


class WebhookStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    PROCESSED = "processed", _("Processed")
    IGNORED = "ignored", _("Not a type we handle")
    UNMATCHED = "unmatched", _("No matching payment (yet)")
    FLAGGED = "flagged", _("Flagged for staff")
    FAILED = "failed", _("Failed; the provider will retry")
    REJECTED = "rejected", _("Rejected: not a shape we can use")
    """Signed by the provider, but not JSON within our bounds or not an event we can read: kept
    with the reason and the body for a person; answered 200, as a retry would bring the same."""


class WebhookEvent(models.Model):
    """A verified event from the payment provider, stored under its id before it is handled:
    a repeat is recognised and changes nothing. A failure keeps the traceback for staff; a
    rejected event its reason and the body as received (payments/webhooks.py)."""

    event_id = models.CharField(
        _("event id"),
        max_length=100,
        unique=True,
        help_text=_("The provider's event id; for a rejected event without a usable one, sha256:…"),
    )
    type = models.CharField(_("type"), max_length=100)
    gateway = models.CharField(_("gateway"), max_length=10, choices=Gateway.choices)
    intent_id = models.CharField(_("provider payment id"), max_length=64, blank=True)
    payload = models.JSONField(null=True, blank=True, help_text=_("Empty for a rejected event."))
    reason = models.CharField(
        _("why rejected"), max_length=REJECTION_REASON_LENGTH, blank=True, default=""
    )
    body = models.TextField(
        _("body as received"),
        blank=True,
        default="",
        help_text=_("Rejected events only: the first 64 KB of the body, as text."),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=WebhookStatus.choices, default=WebhookStatus.RECEIVED
    )
    attempt = models.ForeignKey(
        PaymentAttempt, null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )
    deliveries = models.PositiveIntegerField(_("deliveries"), default=1)
    error = models.TextField(_("error"), blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("payment provider event")
        verbose_name_plural = _("payment provider events")
        indexes = [models.Index(fields=["status", "received_at"], name="webhook_status")]

    def __str__(self):
        return f"{self.event_id} {self.type}"


class RefundStatus(models.TextChoices):
    PENDING = "pending", _("Sent to the provider")
    SUCCEEDED = "succeeded", _("Refunded")
    FAILED = "failed", _("Refused by the provider")


class Refund(models.Model):
    """Staff giving back all or part of an online payment. Created (pending) and committed
    before the provider is asked, with the idempotency key our retries reuse; the ledger reverses
    exactly the refunded amount once the provider confirms."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    attempt = models.ForeignKey(PaymentAttempt, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(_("amount"), **MONEY)
    reason = models.CharField(_("reason"), max_length=300)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=RefundStatus.choices, default=RefundStatus.PENDING
    )
    provider_refund_id = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(_("reason refused"), max_length=300, blank=True)
    entry = models.OneToOneField(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self):
        return f"{self.uuid} {self.amount} {self.status}"

    @property
    def idempotency_key(self) -> str:
        return f"refund-{self.uuid}"


class ReconnectionRequest(models.Model):
    """Supply to restore: a payment cleared the arrears of an account suspended for non-payment.
    Handed to the billing system at once through the export (commitment: within 24 hours)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(ServiceAccount, on_delete=models.PROTECT, related_name="+")
    attempt = models.ForeignKey(
        PaymentAttempt, on_delete=models.PROTECT, related_name="reconnections"
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)

    class Meta:
        verbose_name = _("reconnection request")
        verbose_name_plural = _("reconnection requests")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "attempt"], name="reconnection_once_per_payment"
            ),
        ]

    def __str__(self):
        return f"{self.account_id} {self.requested_at:%Y-%m-%d %H:%M}"


class ExportKind(models.TextChoices):
    PAYMENT = "payment", _("Payment")
    REFUND = "refund", _("Refund")
    RECONNECTION = "reconnection", _("Reconnection request")
    INVOICE_REQUEST = "invoice_request", _("VAT invoice request")


class BillingExport(models.Model):
    """What the billing system must be told: payments, refunds, reconnection requests and the
    other apps' messages (a new connection energised…), in commit order. ``seq`` is the sequence
    number of the audit record written in the same transaction: the audit chain hands them out
    under a lock held until commit, so a reader never sees seq n+1 before n. The messages of one
    transaction share its seq and are always delivered together, so a cursor (the last seq a
    consumer has) delivers each message once however often the consumer retries
    (payments/export.py)."""

    seq = models.PositiveBigIntegerField(db_index=True)
    kind = models.CharField(max_length=20, choices=ExportKind.choices + BillingMessageKind.choices)
    """``ExportKind``: the payments app's own; ``BillingMessageKind``: other apps' messages
    (portal/billing_messages.py)."""
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seq", "id"]

    def __str__(self):
        return f"{self.seq} {self.kind}"


class ExportCursor(models.Model):
    """How far a consumer (an integration client, or ``export_payments --consumer``) has
    confirmed it has read the billing export."""

    consumer = models.CharField(max_length=100, unique=True)
    seq = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.consumer} at {self.seq}"
