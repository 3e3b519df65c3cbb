"""When a commitment falls due: the rule that applies to a customer class in the set the portal
keeps, and the deadline it gives from a starting moment (docs/applications.md).

Working days are counted on the working-day calendar (``portal.core.calendar``) and end at
midnight Beijing time after the last one; calendar days likewise; hours and minutes run from the
moment itself, across midnight and holidays alike.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q

from portal.core import clock
from portal.core.calendar import add_working_days

from .models import CommitmentRule, CommitmentRuleSet, TimeUnit


def rule_set_in_use() -> CommitmentRuleSet | None:
    """The set named by ``COMMITMENT_RULE_SET``, or else the newest set in force today."""
    code = getattr(settings, "COMMITMENT_RULE_SET", "")
    sets = CommitmentRuleSet.objects.all()
    if code:
        return sets.filter(code=code).first()
    return sets.filter(effective_from__lte=clock.today()).order_by("-effective_from").first()


def rule_for(
    *, commitment: str, customer_class: str = "", rule_set: CommitmentRuleSet | None = None
) -> CommitmentRule | None:
    """The rule of ``commitment`` for ``customer_class`` in ``rule_set`` (default: the one in
    use): the class's own rule, else the set's rule for every class; None if the set promises
    nothing of the kind."""
    rule_set = rule_set or rule_set_in_use()
    if rule_set is None:
        return None
    rules = CommitmentRule.objects.filter(
        Q(customer_class=customer_class) | Q(customer_class=""),
        rule_set=rule_set,
        commitment=commitment,
    )
    # The class's own rule sorts after the blank one.
    return rules.order_by("-customer_class").first()


def deadline(*, rule: CommitmentRule, start: datetime) -> datetime:
    """The moment ``rule`` falls due for something that started at ``start`` (aware)."""
    if rule.unit == TimeUnit.MINUTES:
        return start + timedelta(minutes=rule.amount)
    if rule.unit == TimeUnit.HOURS:
        return start + timedelta(hours=rule.amount)
    first = clock.business_date(start)
    if rule.unit == TimeUnit.CALENDAR_DAYS:
        return clock.day_end(first + timedelta(days=rule.amount))
    return clock.day_end(add_working_days(first, rule.amount))
