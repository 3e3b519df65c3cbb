"""Tariffs, penalty rules, bills and the ledger.

The billing system (CIS) is the master of bills and of outside payments; the portal imports
them, explains them and computes what is owed today. Every change to what a customer owes or has
paid is a ``LedgerEntry`` of balanced ``LedgerLine`` rows (docs/bills.md): append-only in the
database, as the audit log is. Bill amounts paid and outstanding are *derived* from the ledger
(``payments.ledger.bills_refresh``) and stored on the bill only so lists can filter and sort.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from modelcluster.fields import ParentalKey
from modelcluster.models import ClusterableModel

from portal.models import CustomerClass, ServiceAccount

# Amounts owed and paid: yuan with 2 places. Unit prices: up to 6 places. Penalty rates: per day.
MONEY = {"max_digits": 14, "decimal_places": 2}
UNIT_PRICE = {"max_digits": 12, "decimal_places": 6}
KWH = {"max_digits": 14, "decimal_places": 2}
DAILY_RATE = {"max_digits": 8, "decimal_places": 6}


# --- Tariffs --------------------------------------------------------------------------------------
class TariffKind(models.TextChoices):
    TIERED = "tiered", _("Tiered (residential)")
    """阶梯电价: a base price up to the first threshold, then two steps up."""
    TIME_OF_USE = "time_of_use", _("Time of use")
    """分时电价: a price per band (peak, flat, valley…)."""
    FLAT = "flat", _("Flat")
    """One price per kWh."""


class TierPeriod(models.TextChoices):
    MONTHLY = "monthly", _("Monthly thresholds")
    YEARLY = "yearly", _("Yearly thresholds")


class Tariff(models.Model):
    """A tariff the portal knows how to explain, by the billing system's code.

    The billing system is the master of tariff codes; an account or bill that names a code not
    defined here is still imported, and flagged for staff. Prices live in ``TariffVersion`` rows
    with an effective date, edited by staff.
    """

    code = models.CharField(_("tariff code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(
        _("kind"), max_length=20, choices=TariffKind.choices, default=TariffKind.FLAT
    )
    region = models.CharField(
        _("region"),
        max_length=100,
        blank=True,
        help_text=_("Province or region whose price notice sets this tariff."),
    )
    customer_class = models.CharField(
        _("customer class"), max_length=20, choices=CustomerClass.choices, blank=True
    )

    class Meta:
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=TariffKind.values), name="tariff_kind_valid"
            ),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"


class TariffVersion(ClusterableModel):
    """The prices of a tariff from a date on (the next version's date ends it).

    Tiered: ``unit_price`` is the first tier's price; consumption above ``tier1_limit_kwh`` in the
    period (a month or a year) costs ``tier2_step`` more, above ``tier2_limit_kwh``
    ``tier3_step`` more (DOMAIN.md: +0.05 and +0.30 yuan/kWh). Time of use: the bands' prices.
    Flat: ``unit_price``.
    """

    tariff = models.ForeignKey(Tariff, on_delete=models.PROTECT, related_name="versions")
    effective_from = models.DateField(_("effective from"))
    unit_price = models.DecimalField(
        _("unit price (yuan/kWh)"), **UNIT_PRICE, null=True, blank=True
    )
    tier_period = models.CharField(
        _("tier period"), max_length=10, choices=TierPeriod.choices, blank=True
    )
    tier1_limit_kwh = models.DecimalField(_("first tier up to (kWh)"), **KWH, null=True, blank=True)
    tier2_limit_kwh = models.DecimalField(
        _("second tier up to (kWh)"), **KWH, null=True, blank=True
    )
    tier2_step = models.DecimalField(
        _("second tier step (yuan/kWh)"), **UNIT_PRICE, default=Decimal("0.05")
    )
    tier3_step = models.DecimalField(
        _("third tier step (yuan/kWh)"), **UNIT_PRICE, default=Decimal("0.30")
    )
    source = models.CharField(
        _("source"), max_length=200, blank=True, help_text=_("The price notice, e.g. its number.")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("tariff version")
        verbose_name_plural = _("tariff versions")
        ordering = ["tariff", "effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["tariff", "effective_from"], name="tariffversion_one_per_date"
            ),
            models.CheckConstraint(
                condition=Q(tier2_limit_kwh__isnull=True)
                | Q(tier1_limit_kwh__isnull=True)
                | Q(tier2_limit_kwh__gt=F("tier1_limit_kwh")),
                name="tariffversion_tiers_ascending",
            ),
            models.CheckConstraint(
                condition=Q(tier_period="") | Q(tier_period__in=TierPeriod.values),
                name="tariffversion_tier_period_valid",
            ),
        ]

    def __str__(self):
        return f"{self.tariff.code} @ {self.effective_from.isoformat()}"


class TariffBand(models.Model):
    """One time-of-use band of a tariff version (尖/峰/平/谷)."""

    version = ParentalKey(TariffVersion, on_delete=models.CASCADE, related_name="bands")
    code = models.SlugField(_("band code"), max_length=20)
    label = models.CharField(_("label"), max_length=40)
    unit_price = models.DecimalField(_("unit price (yuan/kWh)"), **UNIT_PRICE)
    hours = models.CharField(_("hours"), max_length=100, blank=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("time-of-use band")
        verbose_name_plural = _("time-of-use bands")
        ordering = ["sort_order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "code"], name="tariffband_code_unique"),
        ]

    def __str__(self):
        return self.label


# --- Penalty rules --------------------------------------------------------------------------------
class PenaltyRule(models.Model):
    """The late-payment penalty (电费违约金) rates in force from a date on.

    Each day of arrears uses the rule in force that day (payments.penalties). The 1996 rule is
    loaded by migration 0003; staff add a row with a later date when a rule changes.
    """

    effective_from = models.DateField(_("effective from"), unique=True)
    residential_rate = models.DecimalField(_("residential, per day"), **DAILY_RATE)
    current_year_rate = models.DecimalField(
        _("other customers, arrears of the due date's year, per day"), **DAILY_RATE
    )
    earlier_year_rate = models.DecimalField(
        _("other customers, days in later years, per day"), **DAILY_RATE
    )
    minimum_total = models.DecimalField(
        _("minimum penalty (yuan)"),
        **MONEY,
        default=Decimal("1.00"),
        help_text=_("A total under this amount is charged as this amount; 0 for none."),
    )
    source = models.CharField(_("source"), max_length=200)

    class Meta:
        verbose_name = _("penalty rule")
        verbose_name_plural = _("penalty rules")
        ordering = ["effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(residential_rate__gte=0)
                & Q(current_year_rate__gte=0)
                & Q(earlier_year_rate__gte=0)
                & Q(minimum_total__gte=0),
                name="penaltyrule_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.effective_from.isoformat()} {self.source}"


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


class WebhookStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    PROCESSED = "processed", _("Processed")
    IGNORED = "ignored", _("Not a type we handle")
    UNMATCHED = "unmatched", _("No matching payment (yet)")
    FLAGGED = "flagged", _("Flagged for staff")
    FAILED = "failed", _("Failed; the provider will retry")


class WebhookEvent(models.Model):
    """A verified event from the payment provider, stored under its id before it is handled:
    a repeat is recognised and changes nothing. A failure keeps the traceback for staff."""

    event_id = models.CharField(_("event id"), max_length=100, unique=True)
    type = models.CharField(_("type"), max_length=100)
    gateway = models.CharField(_("gateway"), max_length=10, choices=Gateway.choices)
    intent_id = models.CharField(_("provider payment id"), max_length=64, blank=True)
    payload = models.JSONField()
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
    """What the billing system must be told: payments, refunds and reconnection requests, in
    commit order. ``seq`` is the sequence number of the audit record written in the same
    transaction: the audit chain hands them out under a lock held until commit, so a reader
    never sees seq n+1 before n. The messages of one transaction share its seq and are always
    delivered together, so a cursor (the last seq a consumer has) delivers each message once
    however often the consumer retries (payments/export.py)."""

    seq = models.PositiveBigIntegerField(db_index=True)
    kind = models.CharField(max_length=20, choices=ExportKind.choices)
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
