"""Reading bills, always scoped to who is asking.

A person sees the bills of the accounts they have an active personal binding to, and the bills of
an organisation's accounts where their membership holds the view scope (administrators: every
account of the organisation). Anything else is "not found" (404), never "forbidden".

What is owed today is computed, not stored: ``payments.bills.bill_owed`` on the Asia/Shanghai
date, with each page loading the payments of its bills and the penalty rules once
(``owed_today``), never per row.
"""

import calendar
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import Http404

from portal.core import clock
from portal.core.money import FEN, ZERO
from portal.models import Binding, Membership, Scope, ServiceAccount, User
from portal.selectors import binding_get_for, membership_list_for, org_bindings_for

from .bills import NOTHING_OWED, Owed, bill_owed, bill_payments, fault_report_once, penalty_rules
from .ledger import SETTLEMENT_KINDS
from .models import (
    Bill,
    BillRevision,
    BillStatus,
    Book,
    EntryKind,
    LedgerLine,
    PaymentChannel,
    PenaltyRule,
)
from .penalties import day_after
from .tariffs import Explanation, bill_explanation, tier_position, tier_prices_missing

UNPAID = (BillStatus.OPEN, BillStatus.PARTLY_PAID)
OVERDUE = "overdue"
"""A status filter value beyond BillStatus: unpaid and past the due date."""

# The service commitment on disconnection for arrears (DOMAIN.md, State Grid 2011): a written
# notice at least 7 days before supply is suspended. It moves to the commitments data, with an
# effective date per company, when commitments are built; until then it is stated here once.
DISCONNECTION_NOTICE_DAYS = 7


def overdue_condition(*, today: date, prefix: str = "") -> Q:
    """A bill still (partly) unpaid after its due date. ``prefix`` for a lookup through a
    relation (``"bills__"``)."""
    return Q(**{f"{prefix}status__in": UNPAID, f"{prefix}due_date__lt": today})


# --- What a list asks for -----------------------------------------------------------------------
@dataclass(frozen=True)
class BillQuery:
    """Filters of a bill list, from a validated form only. The billing month of a bill is the
    month its period ends in (the month the meter was read)."""

    year: int | None = None
    month: int | None = None
    status: str = ""
    """A BillStatus value, "overdue", or "" for every bill."""
    binding: UUID | None = None
    """One account, by the UUID of the binding the person (or organisation) holds on it."""
    account_number: str = ""
    """Accounts whose number starts with this (an organisation's list: too many for a menu)."""

    def condition(self, *, today: date) -> Q:
        condition = Q()
        if self.account_number:
            condition &= Q(account__number__startswith=self.account_number)
        if self.year is not None:
            condition &= Q(period_end__year=self.year)
            if self.month is not None:
                condition &= Q(period_end__month=self.month)
        if self.status == OVERDUE:
            condition &= overdue_condition(today=today)
        elif self.status:
            condition &= Q(status=self.status)
        return condition


def _listed(bills: QuerySet[Bill], query: BillQuery) -> QuerySet[Bill]:
    """Newest first (by the period's first day: an account's periods do not overlap, and the
    index on (account, -period_start) serves it); the bill number breaks ties, so pages never
    overlap."""
    return (
        bills.filter(query.condition(today=clock.today()))
        .select_related("account")
        .order_by("-period_start", "-due_date", "number")
    )


# --- A person's bills ---------------------------------------------------------------------------
def _personal_account_ids(user: User, binding_uuid=None) -> QuerySet:
    bindings = Binding.objects.active().filter(user=user)
    if binding_uuid is not None:
        bindings = bindings.filter(uuid=binding_uuid)
    return bindings.values("account_id")


def bill_list_for(*, user: User, query: BillQuery | None = None) -> QuerySet[Bill]:
    """The bills of the accounts the person has bound themselves (their own bills; an
    organisation's bills are listed under the organisation). ``query.binding`` narrows to one
    of those bindings; a binding that is not theirs matches nothing."""
    query = query or BillQuery()
    bills = Bill.objects.filter(account_id__in=_personal_account_ids(user, query.binding))
    return _listed(bills, query)


def bill_get_for(*, user: User, uuid: UUID | str) -> Bill:
    """One bill the person may see, in one query (plus one for their memberships), or 404.

    The bill carries ``personal_binding`` (the UUID of the person's own binding on its account,
    or None), ``binding_label`` (that binding's label) and ``membership`` (when seen only
    through an organisation: the membership that grants the view scope, else None).
    """
    memberships = list(membership_list_for(user=user))
    own = Binding.objects.active().filter(user=user, account_id=OuterRef("account_id"))
    visible = Q(Exists(own))
    via = {}
    for membership in memberships:
        name = f"via_{membership.pk}"
        via[name] = Exists(
            org_bindings_for(membership=membership, scope=Scope.VIEW).filter(
                account_id=OuterRef("account_id")
            )
        )
        visible |= Q(**{name: True})
    try:
        bill = (
            Bill.objects.select_related("account", "tariff_version")
            .annotate(
                **via,
                personal_binding=Subquery(own.values("uuid")[:1]),
                binding_label=Subquery(own.values("label")[:1]),
            )
            .filter(visible)
            .get(uuid=uuid)
        )
    except (Bill.DoesNotExist, ValueError):
        raise Http404 from None
    bill.membership = None
    if bill.personal_binding is None:
        bill.membership = next(m for m in memberships if getattr(bill, f"via_{m.pk}"))
    return bill


# --- An organisation's bills --------------------------------------------------------------------
def org_bill_list_for(*, membership: Membership, query: BillQuery | None = None) -> QuerySet[Bill]:
    """The bills of the organisation's accounts this member may view."""
    query = query or BillQuery()
    bindings = org_bindings_for(membership=membership, scope=Scope.VIEW)
    if query.binding is not None:
        bindings = bindings.filter(uuid=query.binding)
    bills = Bill.objects.filter(account_id__in=bindings.values("account_id"))
    return _listed(bills, query)


# The statement's columns, in order (payments/views/bills.py names them in the same order).
STATEMENT_FIELDS = (
    "number",
    "account__number",
    "account__holder_name",
    "period_start",
    "period_end",
    "kwh",
    "amount",
    "principal_paid",
    "penalty_paid",
    "penalty_charged",
    "status",
    "due_date",
)


def org_statement_rows(*, membership: Membership, first: date, last: date):
    """Tuples of STATEMENT_FIELDS for every bill whose billing month falls in [first, last]
    (first days of months), across the organisation's accounts this member may view, oldest
    first."""
    bindings = org_bindings_for(membership=membership, scope=Scope.VIEW)
    end = _month_end(last)
    return (
        Bill.objects.filter(
            account_id__in=bindings.values("account_id"),
            period_end__gte=first,
            period_end__lte=end,
        )
        .order_by("period_end", "account__number", "number")
        .values_list(*STATEMENT_FIELDS)
    )


# --- What is owed today -------------------------------------------------------------------------
def owed_today(*, bills: Iterable[Bill], as_of: date | None = None) -> dict[int, Owed]:
    """What paying each unpaid bill in full costs on ``as_of`` (today in Asia/Shanghai), by bill
    id: one query for their payments and one for the penalty rules, whatever the number of bills.
    Bills need ``account`` loaded (the customer class decides the rate). Paid and cancelled
    bills are left out: nothing is owed on them."""
    unpaid = [bill for bill in bills if bill.status in UNPAID]
    if not unpaid:
        return {}
    as_of = as_of or clock.today()
    payments = bill_payments(bill_ids=(bill.pk for bill in unpaid))
    rules = penalty_rules()
    return {
        bill.pk: bill_owed(bill=bill, as_of=as_of, payments=payments.get(bill.pk, []), rules=rules)
        for bill in unpaid
    }


@dataclass
class AccountBills:
    """What the dashboard card of one account shows about its bills."""

    latest_bill: Bill | None = None
    amount_owed: Decimal = ZERO
    """Everything unpaid on the account's bills, with the penalty as of today."""
    next_due_date: date | None = None
    """The earliest due date of an unpaid bill: in the past when the account is overdue."""
    unpaid_bills: int = 0
    overdue: bool = False


def account_bills_for(*, bindings: Sequence[Binding]) -> dict[int, AccountBills]:
    """For the accounts of ``bindings`` (already scoped to who asks), by account id: the latest
    bill, the amount owed today and the next due date. Three queries however many accounts:
    the unpaid and latest bills, their payments, the penalty rules (these two only if something
    is unpaid)."""
    account_ids = {binding.account_id for binding in bindings}
    summaries = {account_id: AccountBills() for account_id in account_ids}
    if not account_ids:
        return summaries
    latest_pk = (
        Bill.objects.filter(account_id=OuterRef("account_id"))
        .exclude(status=BillStatus.CANCELLED)
        .order_by("-period_end", "-pk")
        .values("pk")[:1]
    )
    bills = list(
        Bill.objects.filter(account_id__in=account_ids)
        .filter(Q(status__in=UNPAID) | Q(pk=Subquery(latest_pk)))
        .select_related("account")
        .order_by("due_date", "pk")
    )
    today = clock.today()
    owed = owed_today(bills=bills, as_of=today)
    for bill in bills:
        summary = summaries[bill.account_id]
        latest = summary.latest_bill
        newer = latest is None or (bill.period_end, bill.pk) > (latest.period_end, latest.pk)
        if bill.status != BillStatus.CANCELLED and newer:
            summary.latest_bill = bill
        if bill.pk in owed:
            summary.amount_owed += owed[bill.pk].total
            summary.unpaid_bills += 1
            if summary.next_due_date is None:  # ordered by due date
                summary.next_due_date = bill.due_date
                summary.overdue = bill.due_date < today
    return summaries


def org_account_owed_annotations(*, today: date) -> dict:
    """``is_overdue`` and ``amount_owed`` for rows of bindings (portal.selectors.org_account_rows):
    an unpaid bill past its due date exists; the unpaid amounts of the account's bills (without
    the penalty, which each bill's page shows)."""
    unpaid = Bill.objects.filter(account_id=OuterRef("account_id"), status__in=UNPAID)
    owed = (
        unpaid.order_by()
        .values("account_id")
        .annotate(total=Sum(F("amount") - F("principal_paid")))
        .values("total")
    )
    return {
        "is_overdue": Exists(unpaid.filter(due_date__lt=today)),
        "amount_owed": Coalesce(Subquery(owed), ZERO),
    }


# --- One bill's page ----------------------------------------------------------------------------
@dataclass
class PaymentReceived:
    """Money received towards a bill (or, for a refund, paid back), from the ledger."""

    day: date
    kind: str
    channel: str
    reference: str
    received: Decimal = ZERO
    """Money in (a refund: negative)."""
    to_amount: Decimal = ZERO
    to_penalty: Decimal = ZERO
    to_credit: Decimal = ZERO
    """Left over: held as credit on the account."""

    @property
    def channel_label(self) -> str:
        return PaymentChannel(self.channel).label if self.channel in PaymentChannel.values else ""


def bill_payments_received(*, bill: Bill) -> list[PaymentReceived]:
    """Every payment, use of credit and refund posted to the bill, oldest first (one query)."""
    lines = (
        LedgerLine.objects.filter(bill=bill, entry__kind__in=SETTLEMENT_KINDS)
        .select_related("entry")
        .order_by("entry__effective_date", "entry_id", "pk")
    )
    by_entry: dict[int, PaymentReceived] = {}
    for line in lines:
        entry = line.entry
        row = by_entry.setdefault(
            entry.pk,
            PaymentReceived(entry.effective_date, entry.kind, entry.channel, entry.reference),
        )
        if line.book == Book.CASH:
            row.received += line.amount
        elif line.book == Book.RECEIVABLE:
            row.to_amount -= line.amount
        elif line.book == Book.PENALTY_RECEIVABLE:
            row.to_penalty -= line.amount
        elif line.book == Book.CUSTOMER_CREDIT:
            if entry.kind == EntryKind.CREDIT_APPLIED:
                row.received += line.amount  # credit used: the customer's money, already held
            else:
                row.to_credit -= line.amount
    return list(by_entry.values())


def bill_revisions(*, bill: Bill) -> list[BillRevision]:
    return list(bill.revisions.order_by("changed_at", "pk"))


@dataclass(frozen=True)
class ArrearsTimeline:
    """What happens to an overdue bill, day by day, and what paying it changes."""

    due_date: date
    penalty_from: date
    """The first day of penalty (the day after the due date, or a contract's own date)."""
    penalty_so_far: Decimal | None
    """None when the penalty could not be worked out (``Owed.penalty_unknown`` says why)."""
    notice_from: date
    """The first day a written notice of suspension for these arrears may be served."""
    notice_days: int
    suspension_not_before: date
    """``notice_from`` + the notice period: the earliest supply could be suspended, had a notice
    been served on the first possible day."""
    today: date
    pay_today: Decimal
    next_day_adds: Decimal | None
    """About what one more unpaid day adds to the penalty (None if nothing accrues)."""
    minimum_applied: bool
    """The days add up to less than the minimum penalty, which is charged instead (so another
    day changes nothing until they pass it)."""


def arrears_for(*, bill: Bill, owed: Owed, today: date) -> ArrearsTimeline | None:
    """The timeline of an unpaid bill past its due date; None for any other bill."""
    if bill.status not in UNPAID or bill.due_date >= today or owed.principal <= 0:
        return None
    notice_from = bill.due_date + timedelta(days=1)
    spans = owed.penalty.spans
    next_day = spans[-1].day_amount.quantize(FEN) if spans else None
    return ArrearsTimeline(
        due_date=bill.due_date,
        penalty_from=bill.penalty_start_date or bill.due_date + timedelta(days=1),
        penalty_so_far=None if owed.penalty_unknown else owed.penalty.total,
        notice_from=notice_from,
        notice_days=DISCONNECTION_NOTICE_DAYS,
        suspension_not_before=notice_from + timedelta(days=DISCONNECTION_NOTICE_DAYS),
        today=today,
        pay_today=owed.total,
        next_day_adds=next_day,
        minimum_applied=owed.penalty.minimum_applied,
    )


# --- Usage --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UsageMonth:
    month: date
    """The first day of the billing month."""
    kwh: Decimal | None
    """None: no bill for this month."""
    amount: Decimal | None


@dataclass
class Usage:
    months: list[UsageMonth] = field(default_factory=list)

    @property
    def billed(self) -> list[UsageMonth]:
        return [month for month in self.months if month.kwh is not None]

    @property
    def total_kwh(self) -> Decimal:
        return sum((month.kwh for month in self.billed), ZERO)

    @property
    def total_amount(self) -> Decimal:
        return sum((month.amount for month in self.billed), ZERO)


def _month_end(first: date) -> date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def _months_back(first: date, count: int) -> date | None:
    """The first day of the month ``count`` months before ``first``'s; None before year 1."""
    index = first.year * 12 + first.month - 1 - count
    return date(index // 12, index % 12 + 1, 1) if index >= 12 else None


def usage_for(*, account: ServiceAccount, months: int = 24) -> Usage:
    """kWh and amount per billing month over ``months`` months ending with the account's latest
    billed month (or this month, before any bill), from its bills that were not cancelled.
    Two queries. Months without a bill are in the list with None."""
    live = Bill.objects.filter(account=account).exclude(status=BillStatus.CANCELLED)
    today = clock.today()
    # A period ending after this month is a billing system's placeholder (9999-12-31), not a
    # reading: the chart ends this month then, so the real months stay in view.
    latest = min(live.aggregate(last=Max("period_end"))["last"] or today, _month_end(today))
    end = latest.replace(day=1)
    start = _months_back(end, months - 1) or date.min
    totals: dict[date, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for period_end, kwh, amount in live.filter(
        period_end__gte=start, period_end__lte=_month_end(end)
    ).values_list("period_end", "kwh", "amount"):
        month = totals[period_end.replace(day=1)]
        month[0] += kwh
        month[1] += amount
    result = []
    for offset in range(months - 1, -1, -1):
        month = _months_back(end, offset)
        if month is None:  # before year 1: a bill dated 0001 is the latest
            continue
        kwh, amount = totals.get(month, (None, None))
        result.append(UsageMonth(month, kwh, amount))
    return Usage(result)


@dataclass(frozen=True)
class BillPage:
    """Everything a bill's page shows, read for the person asking."""

    bill: Bill
    today: date
    owed: Owed
    """What paying it in full today costs; the penalty's day-by-day breakdown."""
    explanation: Explanation
    payments: list[PaymentReceived]
    revisions: list[BillRevision]
    arrears: ArrearsTimeline | None
    rules: list[PenaltyRule]
    """The penalty rules the breakdown used (or, before any penalty day, the rule that would
    apply on the first day), oldest first."""

    @property
    def penalty_from(self) -> date | None:
        """None when the due date is the calendar's last day (no day follows it)."""
        return self.bill.penalty_start_date or day_after(self.bill.due_date)

    @property
    def overdue(self) -> bool:
        return self.arrears is not None

    @property
    def penalty_total(self) -> Decimal:
        """The whole penalty: still due today plus already paid."""
        return self.owed.penalty_due + self.bill.penalty_paid

    @property
    def residential(self) -> bool:
        return self.bill.account.customer_class == "residential"


def _rule_on(rules: Sequence[PenaltyRule], day: date) -> PenaltyRule | None:
    in_force = [rule for rule in rules if rule.effective_from <= day]
    return in_force[-1] if in_force else None


def bill_page_for(*, user: User, uuid: UUID | str) -> BillPage:
    """One bill with its explanation, penalty, payments and history; 404 unless the person may
    see it (``bill_get_for``). A fixed number of queries."""
    bill = bill_get_for(user=user, uuid=uuid)
    today = clock.today()
    rules = penalty_rules()
    if bill.status == BillStatus.CANCELLED:
        owed = NOTHING_OWED
    else:
        payments = bill_payments(bill_ids=[bill.pk]).get(bill.pk, [])
        owed = bill_owed(bill=bill, as_of=today, payments=payments, rules=rules)
    used = []
    for span in owed.penalty.spans:
        if span.rule not in used:
            used.append(span.rule)
    first_day = day_after(bill.due_date)
    if not used and first_day is not None and owed.penalty_unknown is None:
        first_rule = _rule_on(rules, max(first_day, min(today, bill.due_date)))
        used = [first_rule] if first_rule is not None else []
    explanation = bill_explanation(bill)
    if explanation.missing_prices_on is not None:
        fault_report_once(
            key=f"prices:{bill.tariff_code}:{explanation.missing_prices_on.isoformat()}",
            message="tariff %s has no version in force on %s: bill %s cannot be explained",
            args=(bill.tariff_code, explanation.missing_prices_on.isoformat(), bill.number),
        )
    return BillPage(
        bill=bill,
        today=today,
        owed=owed,
        explanation=explanation,
        payments=bill_payments_received(bill=bill),
        revisions=bill_revisions(bill=bill),
        arrears=arrears_for(bill=bill, owed=owed, today=today),
        rules=used,
    )


@dataclass(frozen=True)
class UsagePage:
    binding: Binding
    usage: Usage
    tier: object | None
    """``payments.tariffs.TierPosition`` for a tiered tariff, else None."""
    today: date
    tier_prices_missing: bool = False
    """The tariff is tiered, but no complete version of it is in force today: the position on
    the ladder could not be worked out (the page says so; staff are told)."""


def usage_page_for(*, user: User, binding_uuid: UUID | str) -> UsagePage:
    """The usage of one of the person's own accounts; 404 unless they hold the binding."""
    binding = binding_get_for(user=user, uuid=binding_uuid)
    account = binding.account
    today = clock.today()
    tier = tier_position(account=account, as_of=today)
    missing = tier is None and tier_prices_missing(account=account, as_of=today)
    if missing:
        fault_report_once(
            key=f"prices:{account.tariff_code}:{today.isoformat()}",
            message="tariff %s has no complete version in force on %s: account %s's tier"
            " position cannot be worked out",
            args=(account.tariff_code, today.isoformat(), account.number),
        )
    return UsagePage(
        binding=binding,
        usage=usage_for(account=account),
        tier=tier,
        today=today,
        tier_prices_missing=missing,
    )
