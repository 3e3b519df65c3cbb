"""Wagtail admin (/cms-admin/) for tariffs, their versions and bands, and penalty rules.

Staff change prices and rules here, never by a code change (docs/tariffs.md). For superusers and
staff holding the model permissions (``payments.add_tariffversion`` …); the admin itself asks
staff for two-factor authentication (portal.middleware).

- Every create, edit and delete writes an audit record in the same transaction
  (``tariffs.version_created`` …).
- A version that bills were already priced with, and a penalty rule already in force, are
  history: their edit and delete pages refuse with a message, and staff add a new version or rule
  with a later date instead. A new version may not take days that bills were already priced on.
"""

from django import forms
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin import messages
from wagtail.admin.forms import WagtailAdminModelForm
from wagtail.admin.panels import FieldPanel, FieldRowPanel, InlinePanel, ObjectList
from wagtail.admin.views import generic
from wagtail.admin.viewsets.base import ViewSetGroup
from wagtail.admin.viewsets.model import ModelViewSet

from portal.audit import audit_record, object_ref_for

from .calendar import business_today
from .models import Bill, PenaltyRule, Tariff, TariffVersion
from .tariffs import (
    penalty_rule_in_force,
    tariff_flags_clear,
    version_billed_through,
    version_date_billed_through,
    version_problems,
)

# --- What each audit record holds ----------------------------------------------------------------


def _tariff_data(tariff: Tariff) -> dict:
    return {
        "code": tariff.code,
        "name": tariff.name,
        "kind": tariff.kind,
        "region": tariff.region,
        "customer_class": tariff.customer_class,
    }


def _version_data(version: TariffVersion) -> dict:
    return {
        "tariff": version.tariff.code,
        "effective_from": version.effective_from,
        "unit_price": version.unit_price,
        "tier_period": version.tier_period,
        "tier1_limit_kwh": version.tier1_limit_kwh,
        "tier2_limit_kwh": version.tier2_limit_kwh,
        "tier2_step": version.tier2_step,
        "tier3_step": version.tier3_step,
        "source": version.source,
        "bands": [
            {"code": b.code, "label": b.label, "unit_price": b.unit_price, "hours": b.hours}
            for b in version.bands.all()
        ],
    }


def _rule_data(rule: PenaltyRule) -> dict:
    return {
        "effective_from": rule.effective_from,
        "residential_rate": rule.residential_rate,
        "current_year_rate": rule.current_year_rate,
        "earlier_year_rate": rule.earlier_year_rate,
        "minimum_total": rule.minimum_total,
        "source": rule.source,
    }


class AuditedCreateView(generic.CreateView):
    """Saves and writes ``<prefix>_created`` last, in the view's transaction."""

    audit_prefix = ""
    audit_data = None

    def after_save(self, instance) -> dict:
        """More work in the same transaction, before the audit record; returns data for it."""
        return {}

    def save_instance(self):
        instance = super().save_instance()
        extra = self.after_save(instance)
        audit_record(
            action=f"{self.audit_prefix}_created",
            actor=self.request.user,
            obj=instance,
            data=self.audit_data(instance) | extra,
        )
        return instance


class AuditedEditView(generic.EditView):
    """Refuses objects ``locked_message`` names; saves and writes ``<prefix>_updated`` (before
    and after) last, in the view's transaction."""

    audit_prefix = ""
    audit_data = None
    add_url_name = None

    def locked_message(self, obj) -> str | None:
        return None

    def _refuse(self):
        self.object = self.get_object()
        message = self.locked_message(self.object)
        if message is None:
            return None
        messages.error(
            self.request,
            message,
            buttons=[messages.button(reverse(self.add_url_name), _("Add a new one"))],
        )
        return redirect(self.index_url_name)

    def get(self, request, *args, **kwargs):
        return self._refuse() or super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        if refused := self._refuse():
            return refused
        # Read before the form writes the posted values onto the instance.
        self.before = self.audit_data(self.object)
        return super().post(request, *args, **kwargs)

    def save_instance(self):
        instance = super().save_instance()
        audit_record(
            action=f"{self.audit_prefix}_updated",
            actor=self.request.user,
            obj=instance,
            data={"before": self.before, "after": self.audit_data(instance)},
        )
        return instance


class AuditedDeleteView(generic.DeleteView):
    """Refuses objects ``locked_message`` names; deletes and writes ``<prefix>_deleted`` in one
    transaction."""

    audit_prefix = ""
    audit_data = None

    def locked_message(self, obj) -> str | None:
        return None

    def _refuse(self):
        message = self.locked_message(self.object)
        if message is None:
            return None
        messages.error(self.request, message)
        return redirect(self.index_url_name)

    def get(self, request, *args, **kwargs):
        return self._refuse() or super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        return self._refuse() or super().post(request, *args, **kwargs)

    def delete_action(self):
        data = self.audit_data(self.object)
        ref = object_ref_for(self.object)
        with transaction.atomic():
            super().delete_action()
            audit_record(
                action=f"{self.audit_prefix}_deleted", actor=self.request.user, obj=ref, data=data
            )


def _audited(prefix, data, *, edit_locked=None, delete_locked=None):
    """The create, edit and delete view classes for one model; ``*_locked(obj)`` returns why
    ``obj`` may not be edited or deleted, or None."""

    def attrs(locked):
        found = {"audit_prefix": prefix, "audit_data": staticmethod(data)}
        if locked is not None:
            found["locked_message"] = lambda self, obj: locked(obj)
        return found

    return (
        type("CreateView", (AuditedCreateView,), attrs(None)),
        type("EditView", (AuditedEditView,), attrs(edit_locked)),
        type("DeleteView", (AuditedDeleteView,), attrs(delete_locked)),
    )


class AuditedModelViewSet(ModelViewSet):
    copy_view_enabled = False  # a new version is added, with its own bands, never copied

    def get_edit_view_kwargs(self, **kwargs):
        # The refusal message offers a button to add a new version or rule instead.
        return super().get_edit_view_kwargs(add_url_name=self.get_url_name("add"), **kwargs)


def _day(value) -> str:
    return date_format(value, "Y-m-d")


# --- Tariffs -------------------------------------------------------------------------------------


class TariffForm(WagtailAdminModelForm):
    def clean(self):
        cleaned = super().clean()
        tariff = self.instance
        if tariff.pk:
            # The billing system's code names the tariff on accounts and bills; and versions
            # were written for the kind they are.
            saved = Tariff.objects.get(pk=tariff.pk)
            if cleaned.get("code") not in (None, saved.code):
                self.add_error("code", _("The code cannot change: add a new tariff instead."))
            if cleaned.get("kind") not in (None, saved.kind) and saved.versions.exists():
                self.add_error("kind", _("The kind cannot change once the tariff has versions."))
        return cleaned


def _tariff_locked(tariff: Tariff) -> str | None:
    if tariff.versions.exists():
        return _(
            "%(code)s has price versions, so it stays. Its versions keep old bills explained."
        ) % {"code": tariff.code}
    if Bill.objects.filter(tariff_code=tariff.code).exists():
        return _("Bills name %(code)s, so it stays.") % {"code": tariff.code}
    return None


# A tariff's name, region and class may be edited at any time; only deleting one is refused.
_tariff_create, _tariff_edit, _tariff_delete = _audited(
    "tariffs.tariff", _tariff_data, delete_locked=_tariff_locked
)


class TariffCreateView(_tariff_create):
    """A new tariff also clears the "unknown tariff" flag of accounts and bills that named it."""

    def after_save(self, tariff) -> dict:
        return {"unflagged": tariff_flags_clear(code=tariff.code)}


class TariffViewSet(AuditedModelViewSet):
    model = Tariff
    icon = "tag"
    menu_label = _("Tariffs")
    url_prefix = "tariffs"
    add_view_class = TariffCreateView
    edit_view_class = _tariff_edit
    delete_view_class = _tariff_delete
    list_display = ["code", "name", "kind", "region", "customer_class"]
    list_filter = ["kind"]
    search_fields = ["code", "name", "region"]
    edit_handler = ObjectList(
        [
            FieldRowPanel([FieldPanel("code"), FieldPanel("kind")]),
            FieldPanel("name"),
            FieldRowPanel([FieldPanel("region"), FieldPanel("customer_class")]),
        ],
        base_form_class=TariffForm,
    )


# --- Versions and their bands --------------------------------------------------------------------


class TariffVersionForm(WagtailAdminModelForm):
    """Checks a version is complete for its tariff's kind, and that it takes no billed days."""

    def clean(self):
        cleaned = super().clean()
        tariff = cleaned.get("tariff")
        effective_from = cleaned.get("effective_from")
        if tariff is None or effective_from is None:
            return cleaned
        bands = self.formsets["bands"]
        live_bands = 0
        if bands.is_valid():
            live_bands = sum(
                1 for form in bands.forms if form.cleaned_data and not form.cleaned_data["DELETE"]
            )
        problems = version_problems(
            kind=tariff.kind,
            unit_price=cleaned.get("unit_price"),
            tier_period=cleaned.get("tier_period", ""),
            tier1_limit_kwh=cleaned.get("tier1_limit_kwh"),
            tier2_limit_kwh=cleaned.get("tier2_limit_kwh"),
            bands=live_bands,
        )
        for field, message in problems.items():
            self.add_error(None if field == "bands" else field, message)
        billed = version_date_billed_through(
            tariff=tariff, effective_from=effective_from, exclude_pk=self.instance.pk
        )
        if billed is not None:
            self.add_error(
                "effective_from",
                _(
                    "Bills up to %(day)s were already priced with the version in force then. "
                    "A new version must start after that day."
                )
                % {"day": _day(billed)},
            )
        return cleaned


def _version_locked(version: TariffVersion) -> str | None:
    billed = version_billed_through(version)
    if billed is None:
        return None
    return _(
        "Bills up to %(day)s were priced with %(version)s, so it cannot be changed or deleted. "
        "To change prices, add a new version with a later effective date."
    ) % {"day": _day(billed), "version": version}


_version_create, _version_edit, _version_delete = _audited(
    "tariffs.version", _version_data, edit_locked=_version_locked, delete_locked=_version_locked
)


class TariffVersionViewSet(AuditedModelViewSet):
    model = TariffVersion
    icon = "date"
    menu_label = _("Tariff versions")
    url_prefix = "tariff-versions"
    add_view_class = _version_create
    edit_view_class = _version_edit
    delete_view_class = _version_delete
    list_display = ["__str__", "effective_from", "unit_price", "tier_period", "source"]
    list_filter = ["tariff"]
    ordering = ["tariff__code", "-effective_from"]
    edit_handler = ObjectList(
        [
            FieldRowPanel([FieldPanel("tariff"), FieldPanel("effective_from")]),
            FieldPanel("source"),
            FieldPanel(
                "unit_price",
                help_text=_("Tiered: the first tier's price. Flat: the price. Time of use: empty."),
            ),
            FieldRowPanel(
                [
                    FieldPanel("tier_period"),
                    FieldPanel("tier1_limit_kwh"),
                    FieldPanel("tier2_limit_kwh"),
                ],
                heading=_("Tiers (tiered tariffs only)"),
            ),
            FieldRowPanel([FieldPanel("tier2_step"), FieldPanel("tier3_step")]),
            InlinePanel(
                "bands",
                heading=_("Time-of-use bands (time-of-use tariffs only)"),
                label=_("Band"),
                panels=[
                    FieldRowPanel([FieldPanel("code"), FieldPanel("label")]),
                    FieldRowPanel([FieldPanel("unit_price"), FieldPanel("hours")]),
                    FieldPanel("sort_order", heading=_("Position in the list")),
                ],
            ),
        ],
        base_form_class=TariffVersionForm,
    )

    def get_queryset(self, request):
        return TariffVersion.objects.select_related("tariff")


# --- Penalty rules -------------------------------------------------------------------------------


class PenaltyRuleForm(WagtailAdminModelForm):
    def clean_effective_from(self):
        day = self.cleaned_data["effective_from"]
        today = business_today()
        if day <= today:
            raise forms.ValidationError(
                _("A rule must start after today (%(today)s): penalties already counted stand.")
                % {"today": _day(today)}
            )
        return day


def _rule_locked(rule: PenaltyRule) -> str | None:
    if not penalty_rule_in_force(rule, today=business_today()):
        return None
    return _(
        "The rule from %(day)s is or was in force, so penalties were counted with it and it "
        "cannot be changed or deleted. Add a new rule with a later effective date."
    ) % {"day": _day(rule.effective_from)}


_rule_create, _rule_edit, _rule_delete = _audited(
    "tariffs.penalty_rule", _rule_data, edit_locked=_rule_locked, delete_locked=_rule_locked
)


class PenaltyRuleViewSet(AuditedModelViewSet):
    model = PenaltyRule
    icon = "warning"
    menu_label = _("Penalty rules")
    url_prefix = "penalty-rules"
    add_view_class = _rule_create
    edit_view_class = _rule_edit
    delete_view_class = _rule_delete
    list_display = [
        "effective_from",
        "residential_rate",
        "current_year_rate",
        "earlier_year_rate",
        "minimum_total",
        "source",
    ]
    ordering = ["-effective_from"]
    edit_handler = ObjectList(
        [
            FieldRowPanel([FieldPanel("effective_from"), FieldPanel("source")]),
            FieldRowPanel(
                [
                    FieldPanel("residential_rate"),
                    FieldPanel("current_year_rate"),
                    FieldPanel("earlier_year_rate"),
                ],
                heading=_("Daily rates (0.001 is 0.1 % a day)"),
            ),
            FieldPanel("minimum_total"),
        ],
        base_form_class=PenaltyRuleForm,
    )


class TariffAdminGroup(ViewSetGroup):
    menu_label = _("Tariffs and penalties")
    menu_icon = "tag"
    menu_order = 300
    items = (TariffViewSet, TariffVersionViewSet, PenaltyRuleViewSet)


@hooks.register("register_admin_viewset")
def register_tariff_admin():
    return TariffAdminGroup()
