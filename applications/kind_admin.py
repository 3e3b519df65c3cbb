"""Editing the kinds of application in the back office (/cms-admin/application-kinds/ and
/cms-admin/kind-versions/), registered by ``wagtail_hooks`` (docs/applications.md, "Editing the
kinds").

- A kind is opened or closed to applications; nobody adds or deletes one here, not even a
  superuser: the kinds are the ``Category`` vocabulary, and a migration loads a new one's first
  version.
- A version's steps (in order, each for every customer class or only some, with its time limit
  and its message to the billing system) and documents are edited inline. A version any case
  was opened with, of any status, is history: its edit and delete pages refuse, and staff add
  the next version instead, a copy of the newest to change where it differs. New applications
  use a kind's newest version; cases already opened keep theirs.
- Every create, edit and delete writes an audit record in the same transaction
  (``kinds.kind_updated``, ``kinds.version_created`` …).
"""

from django import forms
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models import Count, Max, Q
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from modelcluster.forms import BaseChildFormSet
from wagtail.admin import messages
from wagtail.admin.forms import WagtailAdminModelForm
from wagtail.admin.panels import FieldPanel, FieldRowPanel, InlinePanel, ObjectList
from wagtail.admin.ui.menus import MenuItem
from wagtail.admin.ui.tables import Column, DateColumn
from wagtail.admin.views import generic
from wagtail.admin.viewsets.base import ViewSetGroup
from wagtail.permission_policies import ModelPermissionPolicy
from wagtail.permissions import register_permission_policy

from portal.core.wagtail_admin import AuditedModelViewSet, audited_views
from portal.models import CustomerClass

from .kinds import version_in_use, version_next_draft, version_number_take, version_problems
from .models import OPEN_STATUSES, ApplicationKind, Category, KindVersion

# The viewsets' names (Wagtail's default, the model's name): each list links to the other.
KINDS = "applicationkind"
VERSIONS = "kindversion"


def _in_category_order(field: str) -> models.Case:
    """The kinds in the order ``Category`` declares them (new connection first), not by code."""
    return models.Case(
        *(models.When(**{field: value}, then=i) for i, value in enumerate(Category.values))
    )


def next_version_url(kind: ApplicationKind) -> str:
    return f"{reverse(f'{VERSIONS}:add')}?kind={kind.pk}"


def versions_url(kind: ApplicationKind) -> str:
    return f"{reverse(f'{VERSIONS}:index')}?kind={kind.pk}"


# --- What each audit record holds -----------------------------------------------------------------
def _kind_data(kind: ApplicationKind) -> dict:
    return {"category": kind.category, "active": kind.active}


def version_data(version: KindVersion) -> dict:
    return {
        "kind": version.kind.category,
        "number": version.number,
        "commitment": version.commitment,
        "steps": [
            [s.position, s.step, s.customer_classes, s.commitment, s.billing_message]
            for s in version.steps.order_by("position")
        ],
        "documents": [
            [d.document, d.customer_classes, d.required] for d in version.documents.all()
        ],
    }


# --- Kinds: opened or closed, never added or deleted here -----------------------------------------
class KindPermissionPolicy(ModelPermissionPolicy):
    """Grants viewing and changing a kind as Django's permissions say, and nothing else to
    anybody (superusers pass every ``has_perm`` check, so without this they would be offered
    add and delete)."""

    ALLOWED = ("view", "change")

    def user_has_permission(self, user, action):
        return action in self.ALLOWED and super().user_has_permission(user, action)

    def users_with_any_permission(self, actions):
        allowed = [action for action in actions if action in self.ALLOWED]
        if not allowed:
            return get_user_model().objects.none()
        return super().users_with_any_permission(allowed)


register_permission_policy(ApplicationKind, KindPermissionPolicy(ApplicationKind))

_kind_edit = audited_views("kinds.kind", _kind_data)[1]  # kinds are only edited here


class KindIndexView(generic.IndexView):
    """Every kind with its newest version, whether it is open, and its open applications; each
    row leads to the kind's versions and to adding the next one."""

    def get_base_queryset(self):
        open_cases = Q(versions__cases__status__in=OPEN_STATUSES)
        return ApplicationKind.objects.annotate(
            newest=Max("versions__number"),
            open_cases=Count("versions__cases", filter=open_cases),
        ).order_by(_in_category_order("category"))

    def get_list_more_buttons(self, instance):
        buttons = super().get_list_more_buttons(instance)
        buttons.append(
            MenuItem(_("Versions"), url=versions_url(instance), icon_name="list-ol", priority=15)
        )
        if self.request.user.has_perm("applications.add_kindversion"):
            buttons.append(
                MenuItem(
                    _("Add the next version"),
                    url=next_version_url(instance),
                    icon_name="plus",
                    priority=16,
                )
            )
        return buttons


def _newest(kind) -> str:
    return f"v{kind.newest}" if kind.newest else "—"


def _open(kind) -> str:
    return _("Yes") if kind.active else _("No")


class KindViewSet(AuditedModelViewSet):
    model = ApplicationKind
    icon = "list-ol"
    menu_label = gettext_lazy("Kinds")
    url_prefix = "application-kinds"
    index_view_class = KindIndexView
    edit_view_class = _kind_edit
    list_display = [
        "__str__",
        Column("newest", label=gettext_lazy("Newest version"), accessor=_newest),
        Column("active", label=gettext_lazy("Open to applications"), accessor=_open),
        Column("open_cases", label=gettext_lazy("Open applications")),
    ]
    edit_handler = ObjectList(
        [
            FieldPanel(
                "active",
                help_text=gettext_lazy(
                    "Closed: customers and staff cannot start an application of this kind; "
                    "applications already made go on."
                ),
            )
        ]
    )


# --- Versions: steps and documents inline ---------------------------------------------------------
class _RowForm(WagtailAdminModelForm):
    """A step or document of a version: the customer classes it is for as checkboxes (stored as
    the JSON list of their values; none ticked, stored empty: every class)."""

    customer_classes = forms.MultipleChoiceField(
        label=capfirst(gettext_lazy("only for these customer classes")),
        choices=CustomerClass.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=gettext_lazy("None ticked: every class."),
    )


class _RowsFormSet(BaseChildFormSet):
    def validate_unique(self):
        """A repeated step or document is named by the version's form (``version_problems``) in
        words staff read, rather than as "duplicate data for version and step"."""


class _RowsPanel(InlinePanel):
    def get_form_options(self):
        options = super().get_form_options()
        options["formsets"][self.relation_name] |= {"form": _RowForm, "formset": _RowsFormSet}
        return options


def _rows(formset) -> list | None:
    """The rows of an inline formset that stay (filled in, not marked for deletion); None while
    any of them has errors of its own, which it shows itself."""
    rows = []
    for form in formset.forms:
        valid = form.is_valid()
        if form.cleaned_data.get("DELETE") or (valid and not form.cleaned_data):
            continue
        if not valid:
            return None
        rows.append(form.cleaned_data)
    return rows


class KindVersionForm(WagtailAdminModelForm):
    def clean(self):
        cleaned = super().clean()
        steps, documents = _rows(self.formsets["steps"]), _rows(self.formsets["documents"])
        if steps is None or documents is None:
            return cleaned
        problems = version_problems(
            steps=[(row["position"], row["step"], row["customer_classes"]) for row in steps],
            documents=[row["document"] for row in documents],
        )
        for problem in problems:
            self.add_error(None, problem)
        return cleaned


def version_locked(version: KindVersion) -> str | None:
    if not version_in_use(version):
        return None
    return _(
        "Applications were made with %(version)s, so it cannot be changed or deleted: their "
        "steps and history refer to it. Add a new version instead: new applications use the "
        "newest version, and those already made keep theirs."
    ) % {"version": version}


def version_delete_locked(version: KindVersion) -> str | None:
    if message := version_locked(version):
        return message
    if not version.kind.versions.exclude(pk=version.pk).exists():
        return _(
            "%(version)s is the only version of %(kind)s, so it stays. To stop applications of "
            "this kind, close it to applications."
        ) % {"version": version, "kind": version.kind}
    return None


_version_create, _version_edit, _version_delete = audited_views(
    "kinds.version",
    version_data,
    edit_locked=version_locked,
    delete_locked=version_delete_locked,
)


class VersionCreateView(_version_create):
    """Adding the next version of the kind named by ``?kind=``: the form opens holding a copy of
    the newest version's steps and documents, and nothing is saved until staff save it."""

    kinds_index_url_name = f"{KINDS}:index"

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        pk = request.GET.get("kind", "")
        self.kind = ApplicationKind.objects.filter(pk=pk).first() if pk.isdigit() else None

    def _no_kind(self):
        if self.kind is not None:
            return None
        messages.info(self.request, _("Choose the kind of application to add the next version to."))
        return redirect(self.kinds_index_url_name)

    def get(self, request, *args, **kwargs):
        return self._no_kind() or super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        return self._no_kind() or super().post(request, *args, **kwargs)

    @cached_property
    def draft(self) -> KindVersion:
        return version_next_draft(kind=self.kind)

    def get_initial_form_instance(self):
        if self.request.method == "POST":
            # The rows come from the posted forms, not from the copy.
            return KindVersion(kind=self.kind, number=self.draft.number)
        return self.draft

    def get_add_url(self):
        return next_version_url(self.kind)

    def get_page_subtitle(self):
        return str(self.draft)

    def save_instance(self):
        self.form.instance.number = version_number_take(kind=self.kind)
        return super().save_instance()


class VersionEditView(_version_edit):
    def locked_buttons(self, version):
        return [messages.button(next_version_url(version.kind), _("Add the next version"))]

    def form_valid(self, form):
        with transaction.atomic():
            # A case opened meanwhile holds a key-share lock on this row (its foreign key) until
            # it commits, so taking the row for update here means either that case is seen now
            # or it waits for this edit and is made with the edited version.
            KindVersion.objects.select_for_update().filter(pk=self.object.pk).first()
            if message := version_locked(self.object):
                messages.error(self.request, message, buttons=self.locked_buttons(self.object))
                return redirect(self.index_url_name)
            return super().form_valid(form)


class VersionIndexView(generic.IndexView):
    """Versions by kind, newest first, with how many applications each was used by. Filtered to
    one kind, the header offers adding that kind's next version."""

    def get_base_queryset(self):
        return (
            KindVersion.objects.select_related("kind")
            .annotate(
                step_count=Count("steps", distinct=True),
                case_count=Count("cases", distinct=True),
            )
            .order_by(_in_category_order("kind__category"), "-number")
        )

    @cached_property
    def chosen_kind(self) -> ApplicationKind | None:
        pk = self.request.GET.get("kind", "")
        return ApplicationKind.objects.filter(pk=pk).first() if pk.isdigit() else None

    def get_add_url(self):
        if self.chosen_kind is None or not self.user_has_permission("add"):
            return None
        return next_version_url(self.chosen_kind)

    @cached_property
    def add_item_label(self):
        return _("Add the next version")


_STEP_PANELS = [
    FieldRowPanel([FieldPanel("position"), FieldPanel("step")]),
    FieldPanel("customer_classes"),
    FieldRowPanel([FieldPanel("commitment"), FieldPanel("billing_message")]),
]
_DOCUMENT_PANELS = [
    FieldRowPanel([FieldPanel("document"), FieldPanel("required")]),
    FieldPanel("customer_classes"),
]


class KindVersionViewSet(AuditedModelViewSet):
    model = KindVersion
    icon = "list-ul"
    menu_label = gettext_lazy("Versions")
    url_prefix = "kind-versions"
    index_view_class = VersionIndexView
    add_view_class = VersionCreateView
    edit_view_class = VersionEditView
    delete_view_class = _version_delete
    list_filter = ["kind"]
    list_display = [
        "__str__",
        "commitment",
        Column("step_count", label=gettext_lazy("Steps")),
        Column("case_count", label=gettext_lazy("Applications made with it")),
        DateColumn("created_at", label=gettext_lazy("Added")),
    ]
    edit_handler = ObjectList(
        [
            FieldPanel("commitment"),
            _RowsPanel(
                "steps",
                heading=gettext_lazy("Steps, in order"),
                label=gettext_lazy("Step"),
                panels=_STEP_PANELS,
            ),
            _RowsPanel(
                "documents",
                heading=gettext_lazy("Documents asked for"),
                label=gettext_lazy("Document asked for"),
                panels=_DOCUMENT_PANELS,
            ),
        ],
        base_form_class=KindVersionForm,
    )


class KindAdminGroup(ViewSetGroup):
    menu_label = gettext_lazy("Kinds of application")
    menu_icon = "list-ol"
    menu_order = 307  # after the queue (305) and the dashboard (306)
    items = (KindViewSet, KindVersionViewSet)
