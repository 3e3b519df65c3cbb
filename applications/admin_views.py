"""The staff's application queue in the back office (/cms-admin/applications/), registered by
``wagtail_hooks``: the queue sorted by deadline with its filters and search, a case with its
documents, clocks and full history, the actions that work it, and opening a case for a customer
who phoned or came to the counter (docs/applications.md, "Back office").

Reading needs ``applications.view_case``; every action needs ``applications.work_case`` (both
held by the Service staff group; editors hold neither). Each action is a service of
``applications.cases``: the refusal it raises is shown on the case, nothing else changes.
"""

import re

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import BooleanField, F
from django.db.models.expressions import RawSQL
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import FormView, View
from wagtail.admin import messages
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.paginator import WagtailPaginator
from wagtail.admin.views import generic
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.widgets.button import HeaderButton

from portal.core import clock
from portal.core.errors import PowerhallError
from portal.models import CustomerClass, ServiceAccount

from . import cases, selectors
from .connection import NEW_ACCOUNT_CATEGORIES, case_account_number_record
from .kinds import documents_for, kind_versions_current, steps_for
from .models import (
    OPEN_STATUSES,
    Case,
    CaseChannel,
    CaseStatus,
    Category,
    Step,
    StepClock,
)
from .queue_table import QueueTable
from .views import document_response

WORK_PERMISSION = "applications.work_case"
# The expression ``case_search_bigrams`` indexes (PostgreSQL, migration 0010), word for word.
SEARCH_BIGRAMS = (
    'applications_bigrams("applications_case"."reference" || \' \' || '
    '"applications_case"."contact_name" || \' \' || "applications_case"."contact_phone" '
    '|| \' \' || "applications_case"."address")'
)
# A whole case reference as ``cases._new_reference`` makes it: A, the date, six digits.
WHOLE_REFERENCE = re.compile(r"A\d{14}", re.IGNORECASE)


class CaseFilterSet(WagtailFilterSet):
    state = django_filters.ChoiceFilter(
        label=gettext_lazy("State"),
        method="filter_state",
        empty_label=gettext_lazy("All"),
        choices=[
            ("open", gettext_lazy("Open")),
            ("overdue", gettext_lazy("Open and overdue")),
            ("closed", gettext_lazy("Closed")),
        ],
    )
    status = django_filters.ChoiceFilter(label=gettext_lazy("Status"), choices=CaseStatus.choices)
    category = django_filters.ChoiceFilter(label=gettext_lazy("Kind"), choices=Category.choices)
    step = django_filters.ChoiceFilter(label=gettext_lazy("Step"), choices=Step.choices)
    district = django_filters.CharFilter(label=gettext_lazy("District"), lookup_expr="exact")
    channel = django_filters.ChoiceFilter(
        label=gettext_lazy("Channel"), choices=CaseChannel.choices
    )
    assigned = django_filters.ChoiceFilter(
        label=gettext_lazy("Assigned"),
        method="filter_assigned",
        choices=[("me", gettext_lazy("To me")), ("nobody", gettext_lazy("To nobody"))],
    )

    class Meta:
        model = Case
        fields = ["state", "status", "category", "step", "district", "channel", "assigned"]

    def filter_state(self, queryset, name, value):
        if value == "open":
            return queryset.filter(queue_open=True)
        if value == "overdue":
            return queryset.filter(queue_open=True, due_at__lt=clock.now())
        if value == "closed":
            return queryset.exclude(status__in=OPEN_STATUSES).exclude(status=CaseStatus.DRAFT)
        return queryset

    def filter_assigned(self, queryset, name, value):
        if value == "me":
            return queryset.filter(assignee=self.request.user)
        if value == "nobody":
            return queryset.filter(assignee__isnull=True)
        return queryset


# The fields the queue's table reads.
QUEUE_FIELDS = (
    "reference",
    "category",
    "customer_class",
    "district",
    "status",
    "step",
    "due_at",
    "channel",
    "created_at",
    "assignee__name",
    "assignee__email",
)
# How many pages past the one asked for the queue counts its cases, at most.
QUEUE_COUNT_PAGES = 20


class BoundedPaginator(WagtailPaginator):
    """Counts the cases up to ``QUEUE_COUNT_PAGES`` pages past the page asked for, not all of
    them: with 100,000 open cases the full count read 100,000 index entries a page (18-50 ms),
    for a figure nobody works from. Under the bound the count is exact; over it, ``more`` is
    set and the page says "more than" (matches and pages), and the pager reaches one page past
    the bound, from where it counts on."""

    def __init__(self, *args, page_number=None, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            page = max(int(page_number or 1), 1)
        except (TypeError, ValueError):
            page = 1
        self.bound = (page + QUEUE_COUNT_PAGES - 1) * self.per_page
        self.more = False

    @cached_property
    def count(self):
        counted = self.object_list[: self.bound + 1].count()
        self.more = counted > self.bound
        return counted

    @cached_property
    def items_count_label(self):
        if self.count and self.more:
            return _("more than %(count)s %(name)s") % {
                "count": intcomma(self.bound),
                "name": self.verbose_name_plural,
            }
        return super().items_count_label


class CaseIndexView(generic.IndexView):
    """The queue: open cases first (unless a state is chosen), the nearest deadline on top,
    drafts never (they are the customer's until submitted)."""

    open_url_name = None
    table_class = QueueTable
    paginator_class = BoundedPaginator
    results_template_name = "applications/admin/queue_results.html"

    @cached_property
    def header_buttons(self):
        if not self.request.user.has_perm(WORK_PERMISSION):
            return []
        return [
            HeaderButton(
                _("Open an application for a customer"),
                url=reverse(self.open_url_name),
                icon_name="plus",
            )
        ]

    def get_paginator(self, *args, **kwargs):
        return super().get_paginator(
            *args, page_number=self.request.GET.get(self.page_kwarg), **kwargs
        )

    def get_filterset_kwargs(self):
        kwargs = super().get_filterset_kwargs()
        if "state" not in kwargs["data"]:
            kwargs["data"] = kwargs["data"].copy()
            kwargs["data"]["state"] = "open"
        return kwargs

    def get_base_queryset(self):
        # Only what the table shows (applications.queue_table): the holder's name is the one
        # related row it needs; no kind version, no loads or description per row.
        return (
            Case.objects.exclude(status=CaseStatus.DRAFT)
            .select_related("assignee")
            .only(*QUEUE_FIELDS)
            .order_by(F("due_at").asc(nulls_last=True), "created_at", "pk")
        )

    def search_queryset(self, queryset):
        # A whole reference (what a customer reads out on the phone) can only match that case's
        # reference: one row of its unique index, where matching every searched field reads
        # every case the filters leave, twice (the count and the page).
        query = self.search_query.strip() if self.is_searching else ""
        if WHOLE_REFERENCE.fullmatch(query):
            return queryset.filter(reference=query.upper())
        queryset = super().search_queryset(queryset)
        if connection.vendor == "postgresql" and len(self.search_query) >= 2:
            # Every pair of adjacent characters of the text is in a matching case's fields:
            # the GIN index of migration 0010 finds those cases, the icontains above keeps
            # exactly the ones it always kept.
            queryset = queryset.filter(
                RawSQL(  # noqa: S611 (constant SQL; the text is a bound parameter)  # nosec
                    f"{SEARCH_BIGRAMS} @> applications_bigrams(%s)",
                    [self.search_query],
                    output_field=BooleanField(),
                )
            )
        return queryset

    def order_queryset(self, queryset):
        if not self.ordering or self.ordering == "due_at":
            return queryset.order_by(F("due_at").asc(nulls_last=True), "created_at", "pk")
        return super().order_queryset(queryset)


# --- One case ------------------------------------------------------------------------------------
class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        label=gettext_lazy("Assign to"),
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label=gettext_lazy("Nobody"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = selectors.case_workers()


class AdvanceForm(forms.Form):
    to = forms.ChoiceField(label=gettext_lazy("Move to"))
    note = forms.CharField(
        label=gettext_lazy("Note (the customer reads it)"), required=False, max_length=1000
    )

    def __init__(self, *args, steps=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to"].choices = [(s, Step(s).label) for s in steps]


class TextForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)

    def __init__(self, *args, label="", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["text"].label = label


class AccountNumberForm(forms.Form):
    number = forms.CharField(
        label=gettext_lazy("Account number from the billing system"),
        max_length=20,
        help_text=gettext_lazy(
            "Bound to the applicant as soon as the account import brings the account."
        ),
    )


ACTIONS = {
    "accept": gettext_lazy("Accept"),
    "assign": gettext_lazy("Assign"),
    "advance": gettext_lazy("Move to the next step"),
    "request": gettext_lazy("Ask the customer for material"),
    "reject": gettext_lazy("Reject"),
    "note": gettext_lazy("Add an internal note"),
    "account": gettext_lazy("Record the new account number"),
}


def _next_steps(case: Case) -> list[str]:
    if case.status != CaseStatus.IN_PROGRESS:
        return []
    workflow = cases.case_steps(case)
    return sorted(workflow.moves.get(case.step, ()))


def action_forms(case: Case) -> dict:
    """The forms a member of staff can use on ``case`` as it stands now."""
    forms_ = {}
    if case.status == CaseStatus.SUBMITTED:
        forms_["accept"] = forms.Form()
    if case.is_open:
        forms_["assign"] = AssignForm(initial={"assignee": case.assignee_id})
    if steps := _next_steps(case):
        forms_["advance"] = AdvanceForm(steps=steps)
    if case.status in (CaseStatus.SUBMITTED, CaseStatus.IN_PROGRESS):
        forms_["request"] = TextForm(label=_("What the customer should provide"))
    if case.is_open:
        forms_["reject"] = TextForm(label=_("Reason (the customer reads it)"))
    forms_["note"] = TextForm(label=_("Note (staff only)"))
    if (
        case.category in NEW_ACCOUNT_CATEGORIES
        and case.accepted_at is not None
        and case.status != CaseStatus.REJECTED
        and not case.assigned_account_number
    ):
        forms_["account"] = AccountNumberForm()
    return forms_


class CaseInspectView(generic.InspectView):
    template_name = "applications/admin/case_inspect.html"
    action_url_name = None
    document_url_name = None

    def get_object(self, queryset=None):
        return get_object_or_404(
            Case.objects.select_related(
                "kind_version__kind", "applicant", "assignee", "opened_by", "account"
            ),
            pk=self.pk,
        )

    def get_page_subtitle(self):
        return self.object.reference

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        case = self.object
        running = selectors.running_clock(case) if case.is_open else None
        may_work = self.request.user.has_perm(WORK_PERMISSION)
        context.update(
            case=case,
            left=selectors.time_left(running),
            whole_left=selectors.time_left(selectors.whole_clock(case)) if case.is_open else None,
            clocks=StepClock.objects.filter(case=case)
            .select_related("missed_holder")
            .order_by("started_at", "pk"),
            events=case.events.select_related("actor").order_by("at", "pk"),
            documents=case.documents.order_by("uploaded_at"),
            missing=cases.documents_missing(case),
            steps=steps_for(version=case.kind_version, customer_class=case.customer_class),
            forms={
                name: (ACTIONS[name], form)
                for name, form in (action_forms(case) if may_work else {}).items()
            },
            action_url=reverse(self.action_url_name, args=(case.pk,)),
            document_url_name=self.document_url_name,
        )
        return context


class CaseActionView(View):
    """POST only: one action on one case, then back to the case."""

    http_method_names = ["post"]
    inspect_url_name = None

    def post(self, request, pk):
        case = get_object_or_404(Case, pk=pk)
        action = request.POST.get("action", "")
        available = action_forms(case)
        if action not in available:
            messages.error(request, _("That action is not possible on this application now."))
            return redirect(self.inspect_url_name, pk)
        form = type(available[action])(request.POST, **self._form_kwargs(action, case))
        if not form.is_valid():
            errors = "; ".join(e for errs in form.errors.values() for e in errs)
            messages.error(request, errors)
            return redirect(self.inspect_url_name, pk)
        data, user = form.cleaned_data, request.user
        try:
            if action == "accept":
                cases.case_accept(case=case, actor=user)
            elif action == "assign":
                cases.case_assign(case=case, assignee=data["assignee"], actor=user)
            elif action == "advance":
                cases.case_advance(case=case, to=data["to"], actor=user, note=data["note"])
            elif action == "request":
                cases.case_request_material(case=case, actor=user, text=data["text"])
            elif action == "reject":
                cases.case_reject(case=case, actor=user, reason=data["text"])
            elif action == "note":
                cases.case_note(case=case, actor=user, text=data["text"])
            elif action == "account":
                case_account_number_record(case=case, number=data["number"], actor=user)
        except PowerhallError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Done: %(action)s.") % {"action": ACTIONS[action]})
        return redirect(self.inspect_url_name, pk)

    @staticmethod
    def _form_kwargs(action: str, case: Case) -> dict:
        if action == "advance":
            return {"steps": _next_steps(case)}
        if action in ("request", "reject", "note"):
            return {"label": ""}
        return {}


def staff_document_download(request, pk, document):
    if not request.user.has_perm("applications.view_case"):
        raise PermissionDenied
    case = get_object_or_404(Case, pk=pk)
    doc = case.documents.filter(uuid=document).first()
    if doc is None:
        raise Http404
    return document_response(doc)


# --- Opening a case for a customer ---------------------------------------------------------------
class OpenForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=())
    customer_class = forms.ChoiceField(
        label=gettext_lazy("Type of supply"), choices=CustomerClass.choices
    )
    channel = forms.ChoiceField(
        label=gettext_lazy("Channel"),
        choices=[c for c in CaseChannel.choices if c[0] != CaseChannel.ONLINE],
    )
    account_number = forms.CharField(
        label=gettext_lazy("Account number (户号)"),
        required=False,
        max_length=20,
        help_text=gettext_lazy(
            "If the customer has one: the case appears in their list once they bind it."
        ),
    )
    contact_name = forms.CharField(label=gettext_lazy("Contact name"), max_length=100)
    contact_phone = forms.CharField(label=gettext_lazy("Contact phone"), max_length=20)
    address = forms.CharField(label=gettext_lazy("Address of the premises"), max_length=300)
    district = forms.CharField(label=gettext_lazy("District"), max_length=100)
    description = forms.CharField(
        label=gettext_lazy("What the customer asked for"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k, Category(k).label) for k in kind_versions_current()]

    def clean_account_number(self):
        number = self.cleaned_data["account_number"].strip()
        if not number:
            return None
        account = ServiceAccount.objects.filter(number=number).first()
        if account is None:
            raise forms.ValidationError(_("No account has this number."))
        return account


class OpenView(WagtailAdminTemplateMixin, FormView):
    template_name = "applications/admin/case_open.html"
    form_class = OpenForm
    page_title = gettext_lazy("Open an application for a customer")
    header_icon = "doc-empty-inverse"
    inspect_url_name = None

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            action_url=self.request.path,
            submit_button_label=_("Open the application"),
            documents={
                kind: [
                    d.get_document_display()
                    for d in documents_for(version=version, customer_class="residential")
                ]
                for kind, version in kind_versions_current().items()
            },
        )
        return context

    def form_valid(self, form):
        data = form.cleaned_data
        account = data["account_number"]
        try:
            case = cases.case_open_for_customer(
                version=kind_versions_current()[data["kind"]],
                customer_class=account.customer_class if account else data["customer_class"],
                account=account,
                channel=data["channel"],
                staff=self.request.user,
                details={
                    key: data[key]
                    for key in (
                        "contact_name",
                        "contact_phone",
                        "address",
                        "district",
                        "description",
                    )
                },
            )
        except PowerhallError as error:
            form.add_error(None, error.message)
            return self.form_invalid(form)
        messages.success(
            self.request,
            _("Application %(reference)s is opened.") % {"reference": case.reference},
        )
        return redirect(self.inspect_url_name, case.pk)


work_required = permission_required(WORK_PERMISSION, raise_exception=True)
