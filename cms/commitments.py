"""The service commitments page's figures: the set of commitments the portal keeps
(``applications.commitments.rule_set_in_use``, the rows the application clocks count against),
grouped by what they are about, so the published page can never disagree with the clocks."""

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from applications.commitments import rule_set_in_use
from applications.models import Commitment, CommitmentRule, CommitmentRuleSet, TimeUnit
from portal.models import CustomerClass

C = Commitment
GROUPS: list[tuple[Promise, list[str]]] = [
    (
        _("New connections and capacity changes"),
        [
            C.SUPPLY_PLAN_REPLY,
            C.NEW_CONNECTION,
            C.DESIGN_REVIEW,
            C.MID_INSPECTION,
            C.COMPLETION_INSPECTION,
            C.ENERGISING,
        ],
    ),
    (
        _("Outages, disconnection and reconnection"),
        [
            C.PLANNED_OUTAGE_NOTICE,
            C.TEMPORARY_MAINTENANCE_NOTICE,
            C.DISCONNECTION_NOTICE,
            C.RECONNECTION,
        ],
    ),
    (
        _("Fault repair"),
        [
            C.FAULT_ARRIVAL_URBAN,
            C.FAULT_ARRIVAL_RURAL,
            C.FAULT_ARRIVAL_REMOTE,
            C.FAULT_RESTORATION_URBAN,
            C.FAULT_RESTORATION_RURAL,
        ],
    ),
    (_("Meters and readings"), [C.METER_TEST, C.DISPUTED_READING]),
    (_("Complaints"), [C.COMPLAINT_CONTACT, C.COMPLAINT_ANSWER]),
]
OTHER = _("Other commitments")
CLASS_ORDER = {value: position for position, value in enumerate(CustomerClass.values)}


def time_limit_text(amount: int, unit: str) -> str:
    """``5 working days``, ``45 minutes``… in the active language."""
    if unit == TimeUnit.WORKING_DAYS:
        text = ngettext("%(count)s working day", "%(count)s working days", amount)
    elif unit == TimeUnit.CALENDAR_DAYS:
        text = ngettext("%(count)s day", "%(count)s days", amount)
    elif unit == TimeUnit.HOURS:
        text = ngettext("%(count)s hour", "%(count)s hours", amount)
    else:
        text = ngettext("%(count)s minute", "%(count)s minutes", amount)
    return text % {"count": amount}


@dataclass(frozen=True)
class Limit:
    """One time limit of a commitment, for some customers."""

    customers: str
    time_limit: str
    note: str


@dataclass(frozen=True)
class Row:
    commitment: str
    limits: list[Limit]


@dataclass(frozen=True)
class Group:
    title: str
    rows: list[Row]


@dataclass(frozen=True)
class Published:
    rule_set: CommitmentRuleSet
    groups: list[Group]


def commitments_published() -> Published | None:
    """The set in use with its rules grouped by theme, each commitment's limits in the order of
    the customer classes; None when the portal keeps no set."""
    rule_set = rule_set_in_use()
    if rule_set is None:
        return None
    by_commitment: dict[str, list[CommitmentRule]] = {}
    for rule in rule_set.rules.all():
        by_commitment.setdefault(rule.commitment, []).append(rule)
    grouped = {commitment for _title, members in GROUPS for commitment in members}
    themes = [*GROUPS, (OTHER, sorted(set(by_commitment) - grouped))]
    groups = []
    for title, members in themes:
        rows = [
            _row(member, by_commitment[member]) for member in members if member in by_commitment
        ]
        if rows:
            groups.append(Group(str(title), rows))
    return Published(rule_set, groups)


def _row(commitment: str, rules: list[CommitmentRule]) -> Row:
    # A class's own rule wins over the set's rule for every class (``rule_for``): the blank rule
    # reads "all customers" alone, "other customers" after the classes that have their own.
    own = sorted(
        (r for r in rules if r.customer_class), key=lambda r: CLASS_ORDER.get(r.customer_class, 99)
    )
    every = [r for r in rules if not r.customer_class]
    limits = [
        Limit(rule.get_customer_class_display(), time_limit_text(rule.amount, rule.unit), rule.note)
        for rule in own
    ]
    for rule in every:
        customers = _("Other customers") if own else _("All customers")
        limits.append(Limit(str(customers), time_limit_text(rule.amount, rule.unit), rule.note))
    label = Commitment(commitment).label if commitment in Commitment.values else commitment
    return Row(str(label), limits)
