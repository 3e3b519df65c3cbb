"""Reading functions, always scoped to who is asking. Anything not theirs is "not found" (404):
never "forbidden", which would confirm that it exists."""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import BooleanField, Exists, OuterRef, Prefetch, Q, QuerySet, Value
from django.http import Http404

from .models import Binding, Invitation, MemberScope, Membership, Organisation, Scope, User


# --- Personal bindings ---------------------------------------------------------------------------
def binding_list_for(*, user: User) -> QuerySet[Binding]:
    """The person's own active bindings, in the order they bound them."""
    return (
        Binding.objects.active().filter(user=user).select_related("account").order_by("created_at")
    )


def binding_history_for(*, user: User) -> QuerySet[Binding]:
    return Binding.objects.filter(user=user).select_related("account").order_by("-created_at")


def binding_get_for(*, user: User, uuid) -> Binding:
    try:
        return binding_list_for(user=user).get(uuid=uuid)
    except (Binding.DoesNotExist, ValueError):
        raise Http404 from None


@dataclass
class AccountCard:
    """What the residential dashboard shows per account. Later capabilities fill in the bill,
    the amount owed and outages here, in this one place."""

    binding: Binding
    latest_bill: object | None = None
    amount_owed: Decimal = Decimal("0.00")
    next_due_date: object | None = None
    outages: list = field(default_factory=list)

    @property
    def account(self):
        return self.binding.account


def account_cards_for(*, user: User) -> list[AccountCard]:
    return [AccountCard(binding=b) for b in binding_list_for(user=user)]


# --- Organisations -------------------------------------------------------------------------------
def membership_list_for(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user, user__is_active=True)
        .select_related("organisation")
        .order_by("organisation__name")
    )


def membership_get_for(*, user: User, organisation_uuid) -> Membership:
    """The person's membership of the organisation, or 404 if they are not a member."""
    try:
        return membership_list_for(user=user).get(organisation__uuid=organisation_uuid)
    except (Membership.DoesNotExist, ValueError):
        raise Http404 from None


def org_bindings_for(*, membership: Membership, scope: str = Scope.VIEW) -> QuerySet[Binding]:
    """The organisation's active bindings this member may act on with ``scope``.

    Administrators hold every scope on every account; members only what MemberScope grants.
    """
    bindings = Binding.objects.active().filter(organisation_id=membership.organisation_id)
    if membership.is_admin:
        return bindings
    grants = MemberScope.objects.filter(
        membership=membership, binding=OuterRef("pk"), **{f"can_{scope}": True}
    )
    return bindings.filter(Exists(grants))


def org_binding_get_for(*, membership: Membership, uuid, scope: str = Scope.VIEW) -> Binding:
    try:
        return (
            org_bindings_for(membership=membership, scope=scope)
            .select_related("account")
            .get(uuid=uuid)
        )
    except (Binding.DoesNotExist, ValueError):
        raise Http404 from None


def org_members_for(*, membership: Membership) -> QuerySet[Membership]:
    """Every member of the organisation, with their scopes (administrators only)."""
    if not membership.is_admin:
        raise Http404
    return (
        Membership.objects.filter(organisation_id=membership.organisation_id)
        .select_related("user")
        .prefetch_related(
            Prefetch("scopes", queryset=MemberScope.objects.select_related("binding__account"))
        )
        .order_by("role", "user__name", "user__email")
    )


def org_invitations_for(*, membership: Membership) -> QuerySet[Invitation]:
    if not membership.is_admin:
        raise Http404
    return Invitation.objects.filter(organisation_id=membership.organisation_id).order_by(
        "-created_at"
    )


def organisation_for(*, membership: Membership) -> Organisation:
    return membership.organisation


# --- Organisation accounts table -----------------------------------------------------------------
# Sortable columns: the only values a ``sort`` parameter may name, mapped to their model field.
# Every ordering ends on the account number (unique), so pages never overlap or skip rows.
ORG_ACCOUNT_SORTS = {
    "number": "account__number",
    "holder": "account__holder_name",
    "district": "account__district",
    "class": "account__customer_class",
    "status": "account__status",
}


@dataclass(frozen=True)
class OrgAccountQuery:
    """What the member asked the accounts table for. Built from a validated form only."""

    search: str = ""
    district: str = ""
    customer_class: str = ""
    status: str = ""
    overdue: bool = False
    sort: str = "number"
    descending: bool = False
    bindings: tuple = ()  # binding UUIDs: "export selected"; empty means every matching row


def org_account_rows(*, membership: Membership) -> QuerySet[Binding]:
    """Every row of the organisation's accounts table this member may see, unfiltered.

    The one place that decides what a row carries: the bills capability replaces the
    ``is_overdue`` placeholder below with an Exists() over the account's unpaid bills past their
    due date and adds an ``amount_owed`` Sum() annotation, and the table, the filter and the CSV
    export pick both up from here. Until bills are imported no account is overdue.
    """
    return (
        org_bindings_for(membership=membership, scope=Scope.VIEW)
        .select_related("account")
        .annotate(is_overdue=Value(False, output_field=BooleanField()))
    )


def org_account_table(*, membership: Membership, query: OrgAccountQuery) -> QuerySet[Binding]:
    """The rows matching ``query``, in its order. Search: the account number starts with the
    text, or the holder's name or the premise address contains it."""
    rows = org_account_rows(membership=membership)
    if query.search:
        rows = rows.filter(
            Q(account__number__startswith=query.search)
            | Q(account__holder_name__icontains=query.search)
            | Q(account__address__icontains=query.search)
        )
    if query.district:
        rows = rows.filter(account__district=query.district)
    if query.customer_class:
        rows = rows.filter(account__customer_class=query.customer_class)
    if query.status:
        rows = rows.filter(account__status=query.status)
    if query.overdue:
        rows = rows.filter(is_overdue=True)
    if query.bindings:
        rows = rows.filter(uuid__in=query.bindings)
    field = ORG_ACCOUNT_SORTS.get(query.sort, ORG_ACCOUNT_SORTS["number"])
    order = [f"-{field}" if query.descending else field]
    if field != ORG_ACCOUNT_SORTS["number"]:
        order.append(ORG_ACCOUNT_SORTS["number"])
    return rows.order_by(*order)


def org_account_districts(*, membership: Membership) -> list[str]:
    """The districts of the accounts this member may see, for the district filter."""
    return list(
        org_bindings_for(membership=membership, scope=Scope.VIEW)
        .order_by("account__district")
        .values_list("account__district", flat=True)
        .distinct()
    )


def org_binding_allows(*, membership: Membership, binding: Binding, scope: str) -> bool:
    """Whether the member holds ``scope`` on one of the organisation's bindings."""
    if membership.is_admin:
        return binding.organisation_id == membership.organisation_id
    return org_bindings_for(membership=membership, scope=scope).filter(pk=binding.pk).exists()


def tariff_name_for(*, code: str) -> str:
    """The tariff's name, or "" when the portal has no definition for the billing code."""
    from payments.models import Tariff

    return Tariff.objects.filter(code=code).values_list("name", flat=True).first() or ""
