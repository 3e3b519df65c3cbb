"""Wagtail admin for the billing-system integration (docs/integration.md).

- Settings → Integration clients: list the clients, create one (its token is shown once, on the
  page that answers the form, and never again), revoke one. For superusers and staff holding
  ``portal.add_integrationclient``. Creation and revocation go through portal/integration.py,
  which audits them.
- Reports → Unknown tariffs: a read-only list of the accounts the import flagged because the
  billing system sent a tariff code the portal has no definition for, with a count per code.
  For staff holding ``portal.view_serviceaccount`` (and superusers).

Imported by portal/wagtail_hooks.py, which registers it with Wagtail.
"""

from django import forms
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.generic import FormView, TemplateView
from wagtail import hooks
from wagtail.admin import messages
from wagtail.admin.menu import MenuItem
from wagtail.admin.ui.tables import Column, DateColumn
from wagtail.admin.views.generic.base import BaseListingView, WagtailAdminTemplateMixin
from wagtail.admin.viewsets.base import ViewSet
from wagtail.admin.widgets.button import HeaderButton

from .core.errors import InvalidInput
from .integration import TOKEN_PREFIX, integration_client_create, integration_client_revoke
from .models import IntegrationClient, IntegrationScope, ServiceAccount

MANAGE_CLIENTS = "portal.add_integrationclient"
VIEW_ACCOUNTS = "portal.view_serviceaccount"


class _PermissionRequired:
    """Refuse the view (403) unless the user holds ``permission`` (superusers hold them all)."""

    permission = ""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.has_perm(self.permission):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)


def _menu_item_class(permission: str):
    class PermissionMenuItem(MenuItem):
        def is_shown(self, request):
            return request.user.has_perm(permission)

    return PermissionMenuItem


# --- Integration clients ------------------------------------------------------------------------


def _client_status(client: IntegrationClient) -> str:
    return _("Revoked") if client.revoked_at else _("Active")


def _revoke_link(client: IntegrationClient) -> str:
    if client.revoked_at:
        return ""
    return format_html(
        '<a class="button button-small button-secondary" href="{}">{}</a>',
        reverse("integration-clients:revoke", args=[client.pk]),
        _("Revoke…"),
    )


class IntegrationClientIndexView(_PermissionRequired, BaseListingView):
    permission = MANAGE_CLIENTS
    model = IntegrationClient
    page_title = _("Integration clients")
    header_icon = "key"
    index_url_name = "integration-clients:index"
    default_ordering = "name"
    paginate_by = 50
    verbose_name = _("integration client")
    verbose_name_plural = _("integration clients")
    columns = [
        Column("name", label=_("Name"), sort_key="name"),
        Column("status", label=_("Status"), accessor=_client_status),
        Column("scopes", label=_("Scopes"), accessor=lambda client: ", ".join(client.scopes)),
        Column(
            "token_prefix",
            label=_("Token starts with"),
            accessor=lambda client: f"{TOKEN_PREFIX}_{client.token_prefix}_…",
        ),
        DateColumn("created_at", label=_("Created"), sort_key="created_at"),
        DateColumn("last_used_at", label=_("Last used"), sort_key="last_used_at"),
        DateColumn("revoked_at", label=_("Revoked")),
        Column("revoke", label="", accessor=_revoke_link),
    ]

    def get_header_buttons(self):
        return [
            HeaderButton(
                _("Add integration client"),
                url=reverse("integration-clients:add"),
                icon_name="plus",
            )
        ]


class IntegrationClientForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("Which system calls the API, e.g. “CIS production”. Must be unique."),
    )
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=IntegrationScope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Give only what the system needs."),
    )


class IntegrationClientCreateView(_PermissionRequired, WagtailAdminTemplateMixin, FormView):
    permission = MANAGE_CLIENTS
    form_class = IntegrationClientForm
    template_name = "portal/integration/client_create.html"
    page_title = _("Add integration client")
    header_icon = "key"

    def get_breadcrumbs_items(self):
        return [
            *self.breadcrumbs_items,
            {"url": reverse("integration-clients:index"), "label": _("Integration clients")},
            {"url": "", "label": self.page_title},
        ]

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            action_url=reverse("integration-clients:add"),
            submit_button_label=_("Create client and show its token"),
            submit_button_active_label=_("Creating…"),
            **kwargs,
        )

    def form_valid(self, form):
        try:
            client, token = integration_client_create(
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                created_by=self.request.user,
            )
        except InvalidInput as error:
            form.add_error("name", error.message)
            return self.form_invalid(form)
        # Answered here, not after a redirect: the token must exist in no URL, session or
        # message store, and nowhere once this page is closed.
        response = self.response_class(
            request=self.request,
            template="portal/integration/client_token.html",
            context=self.get_context_data(
                client=client, token=token, index_url=reverse("integration-clients:index")
            ),
        )
        add_never_cache_headers(response)
        return response


class IntegrationClientRevokeView(_PermissionRequired, WagtailAdminTemplateMixin, TemplateView):
    permission = MANAGE_CLIENTS
    template_name = "portal/integration/client_revoke.html"
    page_title = _("Revoke integration client")
    header_icon = "key"

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.client = get_object_or_404(IntegrationClient, pk=kwargs["pk"], revoked_at=None)

    def get_page_subtitle(self):
        return self.client.name

    def get_breadcrumbs_items(self):
        return [
            *self.breadcrumbs_items,
            {"url": reverse("integration-clients:index"), "label": _("Integration clients")},
            {"url": "", "label": self.page_title, "sublabel": self.client.name},
        ]

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            client=self.client, index_url=reverse("integration-clients:index"), **kwargs
        )

    def post(self, request, *args, **kwargs):
        integration_client_revoke(client=self.client, revoked_by=request.user)
        messages.success(
            request,
            _("%(name)s was revoked: its token no longer works.") % {"name": self.client.name},
        )
        return redirect("integration-clients:index")


class IntegrationClientViewSet(ViewSet):
    name = "integration-clients"
    icon = "key"
    menu_label = _("Integration clients")
    add_to_settings_menu = True
    menu_item_class = _menu_item_class(MANAGE_CLIENTS)

    def get_urlpatterns(self):
        return [
            path("", IntegrationClientIndexView.as_view(), name="index"),
            path("add/", IntegrationClientCreateView.as_view(), name="add"),
            path("<int:pk>/revoke/", IntegrationClientRevokeView.as_view(), name="revoke"),
        ]


# --- Accounts with an unknown tariff ------------------------------------------------------------


class UnknownTariffAccountsView(_PermissionRequired, BaseListingView):
    permission = VIEW_ACCOUNTS
    model = ServiceAccount
    template_name = "portal/integration/unknown_tariffs.html"
    page_title = _("Accounts with an unknown tariff")
    header_icon = "warning"
    index_url_name = "unknown-tariffs:index"
    default_ordering = "tariff_code"
    paginate_by = 100
    verbose_name = _("account with an unknown tariff")
    verbose_name_plural = _("accounts with an unknown tariff")
    columns = [
        Column("tariff_code", label=_("Tariff code"), sort_key="tariff_code"),
        Column("number", label=_("Account number"), sort_key="number"),
        Column("holder_name", label=_("Holder")),
        Column("district", label=_("District"), sort_key="district"),
        Column("customer_class", accessor="get_customer_class_display", label=_("Class")),
        Column("status", accessor="get_status_display", label=_("Status")),
        DateColumn("updated_at", label=_("Last changed"), sort_key="updated_at"),
    ]

    def get_base_queryset(self):
        # The phone and e-mail on file are not needed here, and never shown unmasked.
        return ServiceAccount.objects.filter(tariff_unknown=True).defer("phone", "email")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["codes"] = (
            ServiceAccount.objects.filter(tariff_unknown=True)
            .values("tariff_code")
            .annotate(accounts=Count("id"))
            .order_by("-accounts", "tariff_code")[:50]
        )
        return context


class UnknownTariffViewSet(ViewSet):
    name = "unknown-tariffs"
    icon = "warning"
    menu_label = _("Unknown tariffs")
    menu_hook = "register_reports_menu_item"
    menu_item_class = _menu_item_class(VIEW_ACCOUNTS)

    def get_urlpatterns(self):
        return [path("", UnknownTariffAccountsView.as_view(), name="index")]


@hooks.register("register_admin_viewset")
def register_integration_admin():
    return [IntegrationClientViewSet(), UnknownTariffViewSet()]
