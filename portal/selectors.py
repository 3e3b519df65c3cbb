"""Reading functions, always scoped to who is asking. Anything not theirs is "not found" (404):
never "forbidden", which would confirm that it exists."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import reduce
from operator import and_
from uuid import UUID

from django.core.cache import cache
from django.db.models import (
    BooleanField,
    CharField,
    Count,
    DecimalField,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
)
from django.http import Http404, HttpRequest

from .core import clock
from .core.money import ZERO
from .core.registry import Registry
from .models import Binding, Invitation, MemberScope, Membership, Organisation, Scope, User


# --- Personal bindings ---------------------------------------------------------------------------
def binding_list_for(*, user: User) -> QuerySet[Binding]:
    """The person's own active bindings, in the order they bound them."""
    return (
        Binding.objects.active().filter(user=user).select_related("account").order_by("created_at")
    )


def binding_history_for(*, user: User) -> QuerySet[Binding]:
    return Binding.objects.filter(user=user).select_related("account").order_by("-created_at")


def binding_get_for(*, user: User, uuid: UUID | str) -> Binding:
    try:
        return binding_list_for(user=user).get(uuid=uuid)
    except (Binding.DoesNotExist, ValueError):
        raise Http404 from None


# --- Extension points (portal.core.registry; docs/architecture.md) ------------------------------
account_card_providers = Registry("account cards")
"""``provider(*, bindings: list[Binding]) -> dict[account_id, dict[field, value]]``: fields of
``AccountCard`` an app above fills in for each account (payments: the bills and what is owed).
What they give may depend only on the bindings, their accounts (with ``bills_version``), the
language and today: the dashboard caches the cards with that key (portal/fragments.py)."""

account_card_live_providers = Registry("account cards, live")
"""The same, for fields that depend on anything else (cms: the outages, which depend on the
notices and the time of day): asked on every request, never cached. The dashboard shows their
``outages``."""

org_account_row_annotations = Registry("organisation account rows")
"""``provider(*, today: date) -> dict[name, expression]``: annotations on the rows of an
organisation's accounts table (bindings). The table reads ``amount_owed`` and ``is_overdue``,
which are nothing owed and not overdue until an app provides them (payments does)."""

account_detail_annotations = Registry("account detail")
"""``provider() -> dict[name, expression]``: annotations on the binding an account's page
shows; the page reads ``tariff_name`` ("" until an app provides it)."""


def _annotations(registry: Registry, defaults: dict, **kwargs) -> dict:
    annotations = dict(defaults)
    for provider in registry:
        annotations.update(provider(**kwargs))
    return annotations


@dataclass
class AccountCard:
    """What the residential dashboard shows per account: the binding, and what the apps above
    fill in through ``account_card_providers``."""

    binding: Binding
    latest_bill: object | None = None
    amount_owed: Decimal = Decimal("0.00")
    next_due_date: object | None = None
    overdue: bool = False  # an unpaid bill is past its due date
    outages: list = field(default_factory=list)

    @property
    def account(self):
        return self.binding.account


def account_cards_for(
    *, user: User, bindings: list[Binding] | None = None, live: bool = True
) -> list[AccountCard]:
    """The person's accounts (``bindings``, if already read: ``binding_list_for``) with what the
    apps above know of each: a flat number of queries however many accounts, as long as each
    provider keeps to one. ``live=False`` leaves out the live providers' fields."""
    if bindings is None:
        bindings = list(binding_list_for(user=user))
    cards = {binding.account_id: AccountCard(binding=binding) for binding in bindings}
    registries = [account_card_providers]
    if live:
        registries.append(account_card_live_providers)
    for registry in registries:
        for provider in registry:
            for account_id, fields in provider(bindings=bindings).items():
                for name, value in fields.items():
                    setattr(cards[account_id], name, value)
    return list(cards.values())


def account_card_live_fields(*, bindings: list[Binding]) -> dict[int, dict]:
    """account id → the live providers' fields for the cards of ``bindings``."""
    fields: dict[int, dict] = {}
    for provider in account_card_live_providers:
        for account_id, values in provider(bindings=bindings).items():
            fields.setdefault(account_id, {}).update(values)
    return fields


# --- Organisations -------------------------------------------------------------------------------
def membership_list_for(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user, user__is_active=True)
        .select_related("organisation")
        .order_by("organisation__name")
    )


def membership_list_for_request(*, request: HttpRequest) -> list[Membership]:
    """The signed-in person's memberships, fetched at most once per request: the header's
    organisation switch, the dashboard and an organisation page's access check all ask."""
    memberships = getattr(request, "_portal_memberships", None)
    if memberships is None:
        user = request.user
        memberships = list(membership_list_for(user=user)) if user.is_authenticated else []
        request._portal_memberships = memberships
    return memberships


def membership_get_for_request(*, request: HttpRequest, organisation_uuid: UUID) -> Membership:
    """The signed-in person's membership of the organisation (from the request's list, so the
    organisation pages ask for memberships once), or 404 if they are not a member."""
    for membership in membership_list_for_request(request=request):
        if membership.organisation.uuid == organisation_uuid:
            return membership
    raise Http404


def membership_get_for(*, user: User, organisation_uuid: UUID | str) -> Membership:
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


def org_binding_get_for(
    *, membership: Membership, uuid: UUID | str, scope: str = Scope.VIEW
) -> Binding:
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


def member_scopes_on(*, member: Membership, bindings: Iterable[Binding]) -> dict[int, set[str]]:
    """The member's scopes on these bindings (already scoped to the administrator's
    organisation by the selector that listed them), by binding id."""
    return {
        scope.binding_id: scope.scopes()
        for scope in MemberScope.objects.filter(membership=member, binding__in=bindings)
    }


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

    def condition(self) -> Q | None:
        """The search and filters as one condition on a row, or None for "every row"."""
        parts = []
        if self.search:
            parts.append(
                Q(account__number__startswith=self.search)
                | Q(account__holder_name__icontains=self.search)
                | Q(account__address__icontains=self.search)
            )
        for lookup, value in [
            ("account__district", self.district),
            ("account__customer_class", self.customer_class),
            ("account__status", self.status),
        ]:
            if value:
                parts.append(Q(**{lookup: value}))
        if self.overdue:
            parts.append(Q(is_overdue=True))
        if self.bindings:
            parts.append(Q(uuid__in=self.bindings))
        return reduce(and_, parts) if parts else None


@dataclass(frozen=True)
class OrgAccountSummary:
    total: int  # rows matching the query
    districts: list[str]  # of every account the member may see: the district filter's choices


def org_account_rows(*, membership: Membership) -> QuerySet[Binding]:
    """Every row of the organisation's accounts table this member may see, unfiltered.

    The one place that decides what a row carries: ``is_overdue`` (an unpaid bill is past its
    due date, today in Asia/Shanghai) and ``amount_owed`` (the unpaid amounts of its bills,
    without the penalty), which the table, the filter, the summary and the CSV export pick up
    from here.
    """
    annotations = _annotations(
        org_account_row_annotations,
        {
            "amount_owed": Value(ZERO, output_field=DecimalField(max_digits=12, decimal_places=2)),
            "is_overdue": Value(False, output_field=BooleanField()),
        },
        today=clock.today(),
    )
    return (
        org_bindings_for(membership=membership, scope=Scope.VIEW)
        .select_related("account")
        .annotate(**annotations)
    )


def org_account_table(*, membership: Membership, query: OrgAccountQuery) -> QuerySet[Binding]:
    """The rows matching ``query``, in its order. Search: the account number starts with the
    text, or the holder's name or the premise address contains it."""
    rows = org_account_rows(membership=membership)
    if (condition := query.condition()) is not None:
        rows = rows.filter(condition)
    column = ORG_ACCOUNT_SORTS.get(query.sort, ORG_ACCOUNT_SORTS["number"])
    order = [f"-{column}" if query.descending else column]
    if column != ORG_ACCOUNT_SORTS["number"]:
        order.append(ORG_ACCOUNT_SORTS["number"])
    return rows.order_by(*order)


# The district filter's choices change only when an account is bound, unbound or moved, but
# finding them means joining every one of the member's accounts: remembered for a while.
ORG_DISTRICTS_CACHE_SECONDS = 300


def org_account_summary(*, membership: Membership, query: OrgAccountQuery) -> OrgAccountSummary:
    """How many rows match ``query``, and the districts of all the member's accounts.

    One query either way: a plain COUNT when the districts are cached (no join at all when
    nothing filters on the account), else one GROUP BY district with a filtered count, which
    also refreshes the cache. The cache is per membership, so it holds only districts of
    accounts that member may see.
    """
    key = f"portal:org-account-districts:{membership.pk}"
    districts = cache.get(key)
    rows = org_account_rows(membership=membership)
    condition = query.condition()
    if districts is not None:
        total = (rows.filter(condition) if condition is not None else rows).count()
        return OrgAccountSummary(total=total, districts=districts)
    per_district = (
        rows.values("account__district")
        .annotate(matching=Count("pk", filter=condition))
        .order_by("account__district")
    )
    total, districts = 0, []
    for row in per_district:
        total += row["matching"]
        districts.append(row["account__district"])
    cache.set(key, districts, ORG_DISTRICTS_CACHE_SECONDS)
    return OrgAccountSummary(total=total, districts=districts)


def org_account_slice(*, rows: QuerySet[Binding], start: int, stop: int) -> list[Binding]:
    """``rows[start:stop]``, sorting and skipping over the binding ids alone, then fetching the
    page's full rows ("deferred join"). A late page of a large organisation then sorts narrow
    (key, id) pairs in memory instead of whole rows: on PostgreSQL, 100,000 full rows spill
    the sort to disk."""
    if stop <= start:
        return []
    page = rows.values("pk")[start:stop]
    return list(rows.filter(pk__in=page))


def org_account_detail_for(*, membership: Membership, uuid: UUID | str) -> Binding:
    """One of the organisation's accounts, for its page, in one query: the binding with its
    account, ``tariff_name`` ("" when the portal has no definition for the billing code) and
    ``may_manage`` (may the member unbind it). 404 unless the member may view it."""
    if membership.is_admin:
        may_manage = Value(True, output_field=BooleanField())
    else:
        may_manage = Exists(
            MemberScope.objects.filter(
                membership=membership, binding=OuterRef("pk"), can_manage=True
            )
        )
    annotations = _annotations(
        account_detail_annotations, {"tariff_name": Value("", output_field=CharField())}
    )
    try:
        return (
            org_bindings_for(membership=membership, scope=Scope.VIEW)
            .select_related("account")
            .annotate(may_manage=may_manage, **annotations)
            .get(uuid=uuid)
        )
    except (Binding.DoesNotExist, ValueError):
        raise Http404 from None
