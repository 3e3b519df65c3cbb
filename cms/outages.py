"""Outage notices and the electricity accounts they touch (docs/cms.md, "Outage notices").

An account is affected by an outage notice when its feeder (or 台区) is one the notice names, or,
for a notice that names no feeder, when it is in one of the notice's districts.
"""

from django.db.models import Q, QuerySet

from portal.models import ServiceAccount


def known_places() -> dict[str, list[str]]:
    """The districts and feeders the accounts carry: what a notice may name."""
    accounts = ServiceAccount.objects.order_by()
    return {
        "districts": sorted(set(accounts.values_list("district", flat=True).distinct())),
        "feeders": sorted(
            set(accounts.exclude(feeder="").values_list("feeder", flat=True).distinct())
        ),
    }


def affected_accounts(*, districts: list[str], feeders: list[str]) -> QuerySet[ServiceAccount]:
    """The accounts an outage of ``districts`` and ``feeders`` cuts off."""
    if feeders:
        return ServiceAccount.objects.filter(feeder__in=feeders)
    if districts:
        return ServiceAccount.objects.filter(district__in=districts)
    return ServiceAccount.objects.none()


def affected_filter(*, districts: list[str], feeders: list[str]) -> Q:
    """The same test as a condition on ServiceAccount (for joins)."""
    if feeders:
        return Q(feeder__in=feeders)
    if districts:
        return Q(district__in=districts)
    return Q(pk__in=[])
