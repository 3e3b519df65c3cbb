import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class CustomerClass(models.TextChoices):
    """The supply contract's class; it decides tariffs, penalty rates and commitment limits."""

    RESIDENTIAL = "residential", _("Residential")
    LV_BUSINESS = "lv_business", _("Low-voltage business")
    HV_SINGLE = "hv_single", _("High-voltage, single supply")
    HV_DUAL = "hv_dual", _("High-voltage, dual supply")


class AccountStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    """Supplied and billed."""
    SUSPENDED = "suspended", _("Suspended")
    """Supply suspended, at the customer's request or for arrears."""
    CLOSED = "closed", _("Closed")
    """The contract has ended; its bills and payments stay readable."""


class ServiceAccount(models.Model):
    """A service point under contract (户号), mirrored from the billing system (CIS).

    The billing system is the master: rows are written by the import (file or integration API)
    and never edited in the portal. The phone and e-mail on file are used to send binding codes
    and are never shown unmasked.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    number = models.CharField(_("account number"), max_length=20, unique=True)
    holder_name = models.CharField(_("holder"), max_length=200)
    address = models.CharField(_("premise address"), max_length=300)
    district = models.CharField(_("district"), max_length=100)
    feeder = models.CharField(_("feeder"), max_length=100, blank=True)
    customer_class = models.CharField(
        _("customer class"), max_length=20, choices=CustomerClass.choices
    )
    tariff_code = models.CharField(_("tariff code"), max_length=40)
    tariff_unknown = models.BooleanField(
        _("unknown tariff"),
        default=False,
        help_text=_("The billing system sent a tariff code the portal has no definition for."),
    )
    status = models.CharField(_("status"), max_length=20, choices=AccountStatus.choices)
    meter_number = models.CharField(_("meter number"), max_length=40)
    phone = models.CharField(_("phone on file"), max_length=20, blank=True)
    email = models.EmailField(_("e-mail on file"), blank=True)
    created_at = models.DateTimeField(_("first imported"), auto_now_add=True)
    updated_at = models.DateTimeField(_("last changed"), auto_now=True)
    bills_version = models.PositiveBigIntegerField(default=0, editable=False)
    """Goes up by one, in the writer's transaction, whenever the account's bills or ledger
    change (``portal.fragments.accounts_changed``): part of the key of every cached fragment
    that shows them (docs/bills.md, "Cached fragments")."""

    class Meta:
        verbose_name = _("electricity account")
        verbose_name_plural = _("electricity accounts")
        indexes = [
            models.Index(fields=["district"], name="serviceaccount_district"),
            models.Index(fields=["feeder"], name="serviceaccount_feeder"),
            models.Index(fields=["tariff_unknown"], name="serviceaccount_tariff_unknown"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(customer_class__in=CustomerClass.values),
                name="serviceaccount_class_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=AccountStatus.values), name="serviceaccount_status_valid"
            ),
        ]

    def __str__(self):
        return self.number

    @property
    def is_residential(self) -> bool:
        return self.customer_class == CustomerClass.RESIDENTIAL


class ProofMethod(models.TextChoices):
    """How someone proved they may see an account."""

    HOLDER_AND_METER = "holder_meter", _("Holder's name and the meter number's last 4 digits")
    PHONE_CODE = "phone_code", _("Code sent to the phone on file")
    EMAIL_CODE = "email_code", _("Code sent to the e-mail on file")
    BILL_AMOUNT = "bill_amount", _("Amount of the latest bill")
    APPLICATION = "application", _("The account of their own application, assigned by staff")


class BindingQuerySet(models.QuerySet):
    def active(self):
        return self.filter(ended_at__isnull=True)


class Binding(models.Model):
    """A person's or an organisation's proven claim on an account (绑定户号).

    Exactly one of user and organisation is set. Unbinding sets ended_at and keeps the row, so
    the binding history stays readable. Several people may bind the same account (a household);
    each binding is independent.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(ServiceAccount, on_delete=models.PROTECT, related_name="bindings")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="bindings",
    )
    organisation = models.ForeignKey(
        "portal.Organisation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="bindings",
    )
    label = models.CharField(_("label"), max_length=40, blank=True)
    proof = models.CharField(_("proof"), max_length=20, choices=ProofMethod.choices)
    bound_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("bound at"), auto_now_add=True)
    ended_at = models.DateTimeField(_("unbound at"), null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = BindingQuerySet.as_manager()

    class Meta:
        verbose_name = _("binding")
        verbose_name_plural = _("bindings")
        indexes = [
            models.Index(fields=["user", "ended_at"], name="binding_user_active"),
            models.Index(fields=["organisation", "ended_at"], name="binding_org_active"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(organisation__isnull=True))
                | (Q(user__isnull=True) & Q(organisation__isnull=False)),
                name="binding_one_holder",
            ),
            models.UniqueConstraint(
                fields=["user", "account"],
                condition=Q(ended_at__isnull=True, user__isnull=False),
                name="binding_one_active_per_user",
            ),
            models.UniqueConstraint(
                fields=["organisation", "account"],
                condition=Q(ended_at__isnull=True, organisation__isnull=False),
                name="binding_one_active_per_org",
            ),
        ]

    def __str__(self):
        return f"{self.account_id}:{self.label}"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None


class BindingChallenge(models.Model):
    """A one-time code sent to the phone or e-mail on file, to prove a binding.

    Created whether or not the account number exists (account is then null), so the customer
    sees the same thing either way; only the code's hash is kept.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    organisation = models.ForeignKey(
        "portal.Organisation", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    account = models.ForeignKey(
        ServiceAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    account_number = models.CharField(max_length=20)
    channel = models.CharField(max_length=20, choices=ProofMethod.choices)
    code_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(channel__in=[ProofMethod.PHONE_CODE, ProofMethod.EMAIL_CODE]),
                name="bindingchallenge_channel_code",
            )
        ]

    def __str__(self):
        return f"{self.channel}:{self.account_number}"
