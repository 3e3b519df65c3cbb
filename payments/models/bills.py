"""Bills as the billing system issues them, their lines and their revisions (docs/bills.md)."""

import uuid
from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from portal.models import ServiceAccount

from .fields import KWH, MONEY, UNIT_PRICE
from .tariffs import TariffVersion


# --- Bills ----------------------------------------------------------------------------------------
class BillStatus(models.TextChoices):
    OPEN = "open", _("Unpaid")
    """Issued; nothing paid yet."""
    PARTLY_PAID = "partly_paid", _("Partly paid")
    """Some of the amount or of the penalty is still owed."""
    PAID = "paid", _("Paid")
    """Amount and penalty fully paid."""
    CANCELLED = "cancelled", _("Cancelled")
    """Withdrawn by the billing system; nothing is owed on it."""


class Bill(models.Model):
    """A monthly electricity bill issued by the billing system.

    ``amount`` is the billing system's amount and always stands. ``principal_paid``,
    ``penalty_charged``, ``penalty_paid``, ``settled_on`` and ``status`` are derived from the
    ledger by ``payments.ledger.bills_refresh`` and never set by hand.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    number = models.CharField(_("bill number"), max_length=40, unique=True)
    account = models.ForeignKey(ServiceAccount, on_delete=models.PROTECT, related_name="bills")
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    issue_date = models.DateField(_("issue date"))
    due_date = models.DateField(_("due date"))
    penalty_start_date = models.DateField(
        _("penalty from"),
        null=True,
        blank=True,
        help_text=_("A supply contract's own first day of penalty, if it sets one."),
    )
    kwh = models.DecimalField(_("consumption (kWh)"), **KWH)
    amount = models.DecimalField(_("amount"), **MONEY)
    tariff_code = models.CharField(_("tariff code"), max_length=40)
    tariff_unknown = models.BooleanField(_("unknown tariff"), default=False)
    tariff_version = models.ForeignKey(
        TariffVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bills",
        verbose_name=_("tariff version"),
        help_text=_("The version in force on the period's last day."),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=BillStatus.choices, default=BillStatus.OPEN
    )
    principal_paid = models.DecimalField(_("paid"), **MONEY, default=Decimal("0.00"))
    penalty_charged = models.DecimalField(_("penalty charged"), **MONEY, default=Decimal("0.00"))
    penalty_paid = models.DecimalField(_("penalty paid"), **MONEY, default=Decimal("0.00"))
    settled_on = models.DateField(
        _("amount settled on"),
        null=True,
        blank=True,
        help_text=_("The day the amount was paid in full; the penalty stops accruing then."),
    )
    imported_at = models.DateTimeField(_("first imported"), auto_now_add=True)
    updated_at = models.DateTimeField(_("last changed"), auto_now=True)

    class Meta:
        verbose_name = _("bill")
        verbose_name_plural = _("bills")
        indexes = [
            models.Index(fields=["account", "-period_start"], name="bill_account_period"),
            models.Index(fields=["status", "due_date"], name="bill_status_due"),
            # Which days of a tariff were billed: the admin's lock on used versions.
            models.Index(fields=["tariff_code", "period_end"], name="bill_tariff_period"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="bill_amount_not_negative"),
            models.CheckConstraint(condition=Q(kwh__gte=0), name="bill_kwh_not_negative"),
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")), name="bill_period_ordered"
            ),
            models.CheckConstraint(
                condition=Q(due_date__gte=F("issue_date")), name="bill_due_after_issue"
            ),
            models.CheckConstraint(
                condition=Q(status__in=BillStatus.values), name="bill_status_valid"
            ),
        ]

    def __str__(self):
        return self.number

    @property
    def principal_outstanding(self) -> Decimal:
        if self.status == BillStatus.CANCELLED:
            return Decimal("0.00")
        return self.amount - self.principal_paid


class LineKind(models.TextChoices):
    TIER = "tier", _("Tier")
    BAND = "band", _("Time-of-use band")
    FLAT = "flat", _("Flat price")


class BillLine(models.Model):
    """One line of a bill's consumption as the billing system sent it (per tier or band)."""

    bill = models.ForeignKey(Bill, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(_("kind"), max_length=10, choices=LineKind.choices)
    label = models.CharField(_("label"), max_length=60)
    kwh = models.DecimalField(_("kWh"), **KWH)
    unit_price = models.DecimalField(_("unit price"), **UNIT_PRICE)
    amount = models.DecimalField(_("amount"), **MONEY)

    class Meta:
        ordering = ["bill", "position"]
        constraints = [
            models.UniqueConstraint(fields=["bill", "position"], name="billline_position_unique"),
        ]

    def __str__(self):
        return f"{self.label} {self.kwh} kWh"


class RevisionKind(models.TextChoices):
    REPLACED = "replaced", _("Replaced before payment")
    ADJUSTED = "adjusted", _("Adjusted after payment")
    CANCELLED = "cancelled", _("Cancelled")


class BillRevision(models.Model):
    """History of a bill the billing system sent again with a new amount, or cancelled."""

    bill = models.ForeignKey(Bill, on_delete=models.CASCADE, related_name="revisions")
    kind = models.CharField(_("kind"), max_length=20, choices=RevisionKind.choices)
    old_amount = models.DecimalField(_("old amount"), **MONEY)
    new_amount = models.DecimalField(_("new amount"), **MONEY)
    old_kwh = models.DecimalField(_("old consumption"), **KWH)
    new_kwh = models.DecimalField(_("new consumption"), **KWH)
    source = models.CharField(_("source"), max_length=200, blank=True)
    changed_at = models.DateTimeField(_("changed at"), auto_now_add=True)

    class Meta:
        ordering = ["bill", "changed_at", "id"]

    def __str__(self):
        return f"{self.kind} {self.old_amount} → {self.new_amount}"
