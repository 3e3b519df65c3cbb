"""Wagtail admin (/cms-admin/) for tariffs, their versions and bands, and penalty rules; and a
read-only view of online payments, from which staff refund them.

Staff change prices and rules here, never by a code change (docs/tariffs.md). For superusers and
staff holding the model permissions (``payments.add_tariffversion`` …); the admin itself asks
staff for two-factor authentication (portal.middleware).

- Every create, edit and delete writes an audit record in the same transaction
  (``tariffs.version_created`` …).
- A version that bills were already priced with, and a penalty rule already in force, are
  history: their edit and delete pages refuse with a message, and staff add a new version or rule
  with a later date instead. A new version may not take days that bills were already priced on.
- Online payments (``payments.view_paymentattempt``) are listed and inspected, never edited: each
  shows its bills, ledger entries, provider events and refunds. Holders of
  ``payments.refund_paymentattempt`` refund from there (``payments.refunds``), after entering
  their password again (allauth reauthentication), on top of the two factors the admin asks for.
- The payment provider's events (/cms-admin/payment-events/) are listed for the same staff
  (``payments.view_paymentattempt``), newest first and by status, read-only: rejected ones with
  the reason and the body as received (docs/payments.md, "The webhook").
"""

import json
import re

import django_filters
from allauth.account.decorators import reauthentication_required
from django import forms
from django.contrib.auth.decorators import permission_required
from django.db import transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from django.views.generic import FormView
from wagtail import hooks
from wagtail.admin import messages
from wagtail.admin.filters import DateRangePickerWidget, WagtailFilterSet
from wagtail.admin.forms import WagtailAdminModelForm
from wagtail.admin.panels import FieldPanel, FieldRowPanel, InlinePanel, ObjectList
from wagtail.admin.ui.tables import Column, TitleColumn
from wagtail.admin.views import generic
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.viewsets.base import ViewSetGroup
from wagtail.admin.widgets.button import HeaderButton
from wagtail.permissions import register_permission_policy

from portal.core import clock
from portal.core.errors import InvalidInput
from portal.core.wagtail_admin import (
    AuditedModelViewSet,
    ReadOnlyModelViewSet,
    ReadOnlyPermissionPolicy,
    audited_views,
)

from .forms.refund import RefundForm
from .models import (
    AttemptStatus,
    Bill,
    EntryKind,
    Gateway,
    LedgerEntry,
    PaymentAttempt,
    PenaltyRule,
    RefundStatus,
    Tariff,
    TariffVersion,
    WebhookEvent,
    WebhookStatus,
)
from .refunds import refund_available, refund_request
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
_tariff_create, _tariff_edit, _tariff_delete = audited_views(
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


_version_create, _version_edit, _version_delete = audited_views(
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
        today = clock.today()
        if day <= today:
            raise forms.ValidationError(
                _("A rule must start after today (%(today)s): penalties already counted stand.")
                % {"today": _day(today)}
            )
        return day


def _rule_locked(rule: PenaltyRule) -> str | None:
    if not penalty_rule_in_force(rule, today=clock.today()):
        return None
    return _(
        "The rule from %(day)s is or was in force, so penalties were counted with it and it "
        "cannot be changed or deleted. Add a new rule with a later effective date."
    ) % {"day": _day(rule.effective_from)}


_rule_create, _rule_edit, _rule_delete = audited_views(
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


# --- Online payments and refunds -----------------------------------------------------------------

# Payments change only through fulfilment and refunds: nobody adds, edits or deletes one here.
register_permission_policy(PaymentAttempt, ReadOnlyPermissionPolicy(PaymentAttempt))

REFUND_PERMISSION = "payments.refund_paymentattempt"
_HEX = re.compile(r"[0-9a-f]{1,32}")


def _uuid_prefix(hex_text: str) -> str:
    """The first hex digits of a UUID in its 8-4-4-4-12 spelling: PostgreSQL compares a UUID's
    text with hyphens, and Django strips them for SQLite, so the one spelling finds both."""
    parts, start = [], 0
    for size in (8, 4, 4, 4, 12):
        if start < len(hex_text):
            parts.append(hex_text[start : start + size])
        start += size
    return "-".join(parts)


class PaymentAttemptFilterSet(WagtailFilterSet):
    reference = django_filters.CharFilter(
        label=_("Reference"),
        method="filter_reference",
        help_text=_("The payment reference (WEB-…) or the provider's payment id (pi_…)."),
    )
    status = django_filters.ChoiceFilter(label=_("Status"), choices=AttemptStatus.choices)
    gateway = django_filters.ChoiceFilter(label=_("Gateway"), choices=Gateway.choices)
    needs_review = django_filters.BooleanFilter(
        label=_("Needs a person"), method="filter_needs_review"
    )
    created_at = django_filters.DateFromToRangeFilter(
        label=_("Created"), widget=DateRangePickerWidget
    )

    class Meta:
        model = PaymentAttempt
        fields = ["reference", "status", "gateway", "needs_review", "created_at"]

    def filter_reference(self, queryset, name, value):
        text = value.strip()
        condition = Q(intent_id=text)
        digits = text.lower().removeprefix("web-")
        if _HEX.fullmatch(digits):
            condition |= Q(uuid__istartswith=_uuid_prefix(digits))
        return queryset.filter(condition)

    def filter_needs_review(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.exclude(needs_review="") if value else queryset.filter(needs_review="")


class PaymentInspectView(generic.InspectView):
    """One payment with everything that happened to it: its bills, ledger entries, provider
    events and refunds, and a Refund button for those who may refund."""

    template_name = "payments/admin/payment_inspect.html"
    refund_url_name = None
    labels = {
        "reference": _("Reference"),
        "refundable": _("Still refundable"),
        "failure_message": _("Why the last try failed"),
        "created_by": _("Paid by"),
        "uuid": _("UUID"),
    }

    def get_object(self, queryset=None):
        return get_object_or_404(
            PaymentAttempt.objects.select_related("created_by", "organisation"), pk=self.pk
        )

    def get_field_label(self, field_name, field):
        if field_name in self.labels:
            return self.labels[field_name]
        return super().get_field_label(field_name, field)

    def get_page_subtitle(self):
        return self.object.reference

    def _moment(self, value) -> str:
        return date_format(clock.localtime(value), "Y-m-d H:i:s") if value else "—"

    def get_created_at_display_value(self):
        return self._moment(self.object.created_at)

    def get_paid_at_display_value(self):
        return self._moment(self.object.paid_at)

    def get_organisation_display_value(self):
        return self.object.organisation or "—"

    @property
    def header_buttons(self):
        if not self.request.user.has_perm(REFUND_PERMISSION):
            return []
        if self.object.refundable <= 0:
            return []
        url = reverse(self.refund_url_name, args=(self.object.pk,))
        return [HeaderButton(_("Refund"), url=url, icon_name="resubmit")]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        attempt = self.object
        context.update(
            items=attempt.items.select_related("bill__account").order_by("bill_id"),
            refunds=attempt.refunds.select_related("requested_by").order_by("created_at", "pk"),
            events=attempt.events.order_by("received_at", "pk"),
            # Kinds named so the (kind, reference) index finds them on a ledger of millions.
            entries=LedgerEntry.objects.filter(
                kind__in=(EntryKind.PENALTY_CHARGED, EntryKind.PAYMENT, EntryKind.REFUND),
                reference=attempt.reference,
            )
            .prefetch_related("lines__bill")
            .order_by("posted_at", "pk"),
        )
        return context


class RefundView(WagtailAdminTemplateMixin, FormView):
    """Refund all or part of one payment, with a reason. The work is ``refund_request``'s; this
    shows the payment, its bills and what was refunded so far, and the service's refusals on the
    form."""

    template_name = "payments/admin/refund.html"
    form_class = RefundForm
    page_title = _("Refund")
    header_icon = "resubmit"
    model = None
    index_url_name = None
    inspect_url_name = None

    def dispatch(self, request, *args, **kwargs):
        self.attempt = get_object_or_404(PaymentAttempt, pk=kwargs["pk"])
        self.inspect_url = reverse(self.inspect_url_name, args=(self.attempt.pk,))
        return super().dispatch(request, *args, **kwargs)

    def get_page_subtitle(self):
        return self.attempt.reference

    def get_breadcrumbs_items(self):
        return [
            {"url": reverse("wagtailadmin_home"), "label": _("Home")},
            {"url": reverse(self.index_url_name), "label": _("Online payments")},
            {"url": self.inspect_url, "label": self.attempt.reference},
            {"url": "", "label": _("Refund"), "sublabel": self.attempt.reference},
        ]

    def get_initial(self):
        return {"amount": refund_available(attempt=self.attempt)}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        attempt = self.attempt
        context.update(
            attempt=attempt,
            available=refund_available(attempt=attempt),
            items=attempt.items.select_related("bill__account").order_by("bill_id"),
            refunds=attempt.refunds.select_related("requested_by").order_by("created_at", "pk"),
            action_url=self.request.path,
            submit_button_label=_("Refund"),
            submit_button_active_label=_("Refunding…"),
        )
        return context

    def form_valid(self, form):
        try:
            refund = refund_request(
                attempt=self.attempt,
                amount=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"],
                by=self.request.user,
            )
        except InvalidInput as refused:
            form.add_error(None, refused.message)
            return self.form_invalid(form)
        values = {"amount": f"{refund.amount:.2f}", "reference": self.attempt.reference}
        if refund.status == RefundStatus.SUCCEEDED:
            messages.success(self.request, _("¥%(amount)s of %(reference)s was refunded.") % values)
        elif refund.status == RefundStatus.FAILED:
            messages.error(
                self.request,
                _("The provider refused the refund of ¥%(amount)s: %(error)s")
                % (values | {"error": refund.failure_message}),
            )
        else:
            messages.warning(
                self.request,
                _(
                    "The provider has not confirmed the refund of ¥%(amount)s yet. It stays "
                    "pending, and reconciliation asks again."
                )
                % values,
            )
        return redirect(self.inspect_url)


class PaymentAttemptViewSet(ReadOnlyModelViewSet):
    model = PaymentAttempt
    icon = "clipboard-list"
    menu_label = _("Online payments")
    menu_order = 310
    add_to_admin_menu = True
    url_prefix = "online-payments"
    ordering = ["-created_at", "-id"]
    list_per_page = 50
    filterset_class = PaymentAttemptFilterSet
    inspect_view_class = PaymentInspectView
    inspect_view_fields = [
        "reference",
        "status",
        "amount",
        "refunded",
        "refundable",
        "currency",
        "business_date",
        "gateway",
        "intent_id",
        "payment_method",
        "created_by",
        "organisation",
        "created_at",
        "paid_at",
        "failure_message",
        "needs_review",
        "uuid",
    ]

    @property
    def list_display(self):
        return [
            TitleColumn(
                "reference",
                label=_("Reference"),
                url_name=self.get_url_name("inspect"),
            ),
            Column("created_at", label=_("Created")),
            Column("amount", label=_("Amount")),
            Column("refunded", label=_("Refunded")),
            Column("status", label=_("Status"), accessor="get_status_display"),
            Column("gateway", label=_("Gateway"), accessor="get_gateway_display"),
            Column("created_by", label=_("Paid by")),
            Column("needs_review", label=_("Needs a person")),
        ]

    def get_queryset(self, request):
        return PaymentAttempt.objects.select_related("created_by")

    def get_inspect_view_kwargs(self, **kwargs):
        return super().get_inspect_view_kwargs(
            refund_url_name=self.get_url_name("refund"), **kwargs
        )

    @property
    def refund_view(self):
        view = self.construct_view(RefundView, inspect_url_name=self.get_url_name("inspect"))
        # A refund moves money: the person enters their password again first (allauth), and
        # the POST is replayed after; but only someone who may refund is asked. Outside any
        # request transaction: the refund is committed before the provider is called.
        view = reauthentication_required(view, allow_get=True)
        view = permission_required(REFUND_PERMISSION, raise_exception=True)(view)
        return transaction.non_atomic_requests(view)

    def extra_urlpatterns(self):
        return [path(f"refund/<{self.pk_path_converter}:pk>/", self.refund_view, name="refund")]


@hooks.register("register_admin_viewset")
def register_payment_admin():
    return PaymentAttemptViewSet("online_payments")


# --- The payment provider's events ---------------------------------------------------------------

# Events are the payments' record: whoever may see online payments sees them (the permission is
# PaymentAttempt's), and nobody adds, edits or deletes one.
register_permission_policy(
    WebhookEvent, ReadOnlyPermissionPolicy(WebhookEvent, auth_model=PaymentAttempt)
)


class WebhookEventFilterSet(WagtailFilterSet):
    status = django_filters.ChoiceFilter(label=_("Status"), choices=WebhookStatus.choices)
    event_id = django_filters.CharFilter(
        label=_("Event id"), help_text=_("The provider's event id (evt_…) or sha256:…")
    )
    type = django_filters.CharFilter(
        label=_("Type"),
        lookup_expr="startswith",
        help_text=_('A type, or how it starts (for example "payment_intent.").'),
    )
    received_at = django_filters.DateFromToRangeFilter(
        label=_("Received"), widget=DateRangePickerWidget
    )

    class Meta:
        model = WebhookEvent
        fields = ["status", "event_id", "type", "received_at"]


class WebhookEventInspectView(generic.InspectView):
    def get_page_subtitle(self):
        return self.object.event_id

    def _moment(self, value) -> str:
        return date_format(clock.localtime(value), "Y-m-d H:i:s") if value else "—"

    def get_received_at_display_value(self):
        return self._moment(self.object.received_at)

    def get_processed_at_display_value(self):
        return self._moment(self.object.processed_at)

    def get_attempt_display_value(self):
        attempt = self.object.attempt
        return attempt.reference if attempt else "—"

    def get_payload_display_value(self):
        if self.object.payload is None:
            return "—"
        return json.dumps(self.object.payload, ensure_ascii=False, indent=2, sort_keys=True)


class WebhookEventViewSet(ReadOnlyModelViewSet):
    """The provider's events as stored (payments/webhooks.py): what each became, how often it
    was delivered, and for a rejected one why, with the body as received. Read-only."""

    model = WebhookEvent
    icon = "list-ul"
    menu_label = _("Payment provider events")
    menu_order = 311
    add_to_admin_menu = True
    url_prefix = "payment-events"
    ordering = ["-received_at", "-id"]
    list_per_page = 50
    filterset_class = WebhookEventFilterSet
    inspect_view_class = WebhookEventInspectView
    inspect_view_fields = [
        "event_id",
        "type",
        "status",
        "reason",
        "deliveries",
        "received_at",
        "processed_at",
        "gateway",
        "intent_id",
        "attempt",
        "error",
        "body",
        "payload",
    ]

    @property
    def list_display(self):
        return [
            TitleColumn("event_id", label=_("Event id"), url_name=self.get_url_name("inspect")),
            Column("received_at", label=_("Received")),
            Column("type", label=_("Type")),
            Column("status", label=_("Status"), accessor="get_status_display"),
            Column("deliveries", label=_("Deliveries")),
            Column("reason", label=_("Why rejected")),
        ]

    def get_queryset(self, request):
        return WebhookEvent.objects.defer("payload", "body", "error")


@hooks.register("register_admin_viewset")
def register_webhook_event_admin():
    return WebhookEventViewSet("payment_events")
