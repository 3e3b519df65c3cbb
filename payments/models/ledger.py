"""The append-only double-entry ledger: every change to what a customer owes or has paid
(docs/bills.md), and the payments made through other channels."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from portal.models import ServiceAccount

from .bills import Bill
from .fields import MONEY


# --- Ledger ---------------------------------------------------------------------------------------
class Book(models.TextChoices):
    """The ledger's accounts. Lines are signed: a debit is positive, a credit negative."""

    RECEIVABLE = "receivable", _("Electricity charges receivable")
    """What customers owe on bills (asset): debited when billed, credited when paid."""
    PENALTY_RECEIVABLE = "penalty_receivable", _("Penalties receivable")
    """Penalties charged and not yet paid (asset)."""
    ENERGY_REVENUE = "energy_revenue", _("Electricity sales")
    PENALTY_REVENUE = "penalty_revenue", _("Penalty income")
    CASH = "cash", _("Money received")
    """Money received through any channel (the entry names the channel)."""
    CUSTOMER_CREDIT = "customer_credit", _("Customer credit")
    """Money held for the customer (liability): an overpayment, used on the next bill."""


class EntryKind(models.TextChoices):
    BILL_ISSUED = "bill_issued", _("Bill issued")
    BILL_REVISED = "bill_revised", _("Bill amount replaced")
    BILL_ADJUSTED = "bill_adjusted", _("Bill adjustment")
    BILL_CANCELLED = "bill_cancelled", _("Bill cancelled")
    PENALTY_CHARGED = "penalty_charged", _("Late-payment penalty")
    PAYMENT = "payment", _("Payment")
    CREDIT_APPLIED = "credit_applied", _("Credit applied")
    REFUND = "refund", _("Refund")
    REVERSAL = "reversal", _("Correction")


class PaymentChannel(models.TextChoices):
    COUNTER = "counter", _("At a service counter")
    BANK_DEBIT = "bank_debit", _("Bank direct debit")
    OTHER_APP = "other_app", _("Another payment app")
    PORTAL = "portal", _("Online business hall")


class LedgerEntry(models.Model):
    """One balanced posting: its lines sum to zero. Append-only (migration 0003's triggers);
    a correction is a new entry that ``reverses`` the wrong one."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=20, choices=EntryKind.choices)
    effective_date = models.DateField(
        _("business date"), help_text=_("Asia/Shanghai date the posting takes effect.")
    )
    posted_at = models.DateTimeField(_("posted at"))
    channel = models.CharField(
        _("channel"), max_length=20, choices=PaymentChannel.choices, blank=True
    )
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    memo = models.CharField(_("memo"), max_length=200, blank=True)
    reverses = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        indexes = [models.Index(fields=["kind", "reference"], name="ledgerentry_kind_ref")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=EntryKind.values), name="ledgerentry_kind_valid"
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.effective_date.isoformat()} {self.reference}"


class LedgerLine(models.Model):
    """One side of a posting, on one electricity account and (usually) one bill."""

    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="lines")
    account = models.ForeignKey(ServiceAccount, on_delete=models.PROTECT, related_name="+")
    bill = models.ForeignKey(
        Bill, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_lines"
    )
    book = models.CharField(_("book"), max_length=20, choices=Book.choices)
    amount = models.DecimalField(_("amount (debit +, credit −)"), **MONEY)

    class Meta:
        verbose_name = _("ledger line")
        verbose_name_plural = _("ledger lines")
        indexes = [
            models.Index(fields=["bill", "book"], name="ledgerline_bill_book"),
            models.Index(fields=["account", "book"], name="ledgerline_account_book"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledgerline_not_zero"),
            models.CheckConstraint(condition=Q(book__in=Book.values), name="ledgerline_book_valid"),
        ]

    def __str__(self):
        return f"{self.book} {self.amount}"


class OutsidePayment(models.Model):
    """A payment made through another channel (counter, bank debit, another app), as the billing
    system reported it. Idempotent by ``reference``: the same payment reported twice is one."""

    reference = models.CharField(_("payment reference"), max_length=64, unique=True)
    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="outside_payments")
    amount = models.DecimalField(_("amount"), **MONEY)
    paid_at = models.DateTimeField(_("paid at"))
    channel = models.CharField(_("channel"), max_length=20, choices=PaymentChannel.choices)
    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="+")
    imported_at = models.DateTimeField(_("imported at"), auto_now_add=True)

    class Meta:
        verbose_name = _("outside payment")
        verbose_name_plural = _("outside payments")
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="outsidepayment_amount_positive"
            ),
        ]

    def __str__(self):
        return self.reference
