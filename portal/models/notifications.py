"""Notifications: what the portal tells people, by which channel, and what was sent."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class NotificationKind(models.TextChoices):
    BILL_ISSUED = "bill_issued", _("A new bill")
    BILL_DUE_SOON = "bill_due_soon", _("A bill falls due soon")
    BILL_OVERDUE = "bill_overdue", _("A bill is overdue")
    PAYMENT_RECEIVED = "payment_received", _("Payment received, with the receipt")
    REFUND = "refund", _("A refund")
    APPLICATION_STATUS = "application_status", _("An application changes status")
    APPLICATION_SURVEY = "application_survey", _("A short survey when an application is completed")
    OUTAGE = "outage", _("An outage affecting my accounts")


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("Text message")


class NotificationPreference(models.Model):
    """A person's choice for one kind on one channel. No row: the default
    (``portal.notifications.DEFAULTS``)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=30, choices=NotificationKind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    enabled = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind", "channel"], name="notificationpreference_unique"
            ),
        ]

    def __str__(self):
        return f"{self.user_id} {self.kind} {self.channel} {self.enabled}"


class NotificationStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class Notification(models.Model):
    """One message to one person on one channel. ``idempotency_key`` names the event it is
    about (kind, object, channel), so the same event never sends twice however often it is
    raised; the row records what was sent to whom, and when."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(_("kind"), max_length=30, choices=NotificationKind.choices)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    idempotency_key = models.CharField(max_length=200, unique=True)
    recipient = models.CharField(_("to"), max_length=254)
    subject = models.CharField(_("subject"), max_length=200)
    language = models.CharField(max_length=10)
    context = models.JSONField(default=dict)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=NotificationStatus.choices,
        default=NotificationStatus.QUEUED,
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="notification_user_recent")]

    def __str__(self):
        return f"{self.kind} → {self.recipient} ({self.status})"
