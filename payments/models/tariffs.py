"""Tariffs with their price versions and time-of-use bands, and the penalty rules: the
prices and rules in force on each date, as data (docs/tariffs.md)."""

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from modelcluster.fields import ParentalKey
from modelcluster.models import ClusterableModel

from portal.models import CustomerClass

from .fields import DAILY_RATE, KWH, MONEY, UNIT_PRICE


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
