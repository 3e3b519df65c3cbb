"""What a bill's consumption costs under a tariff, and where an account stands on its tier ladder.

How powerhall prices consumption (docs/tariffs.md says the same, for staff and customers):

- **Versions.** A tariff's prices live in versions with an effective date; a version is in force
  from its date until the next version's date. The day a version takes effect is priced by it.
- **A period across a price change** is split between the versions *pro rata by days*: a version
  in force for d of the period's N days prices d/N of the consumption (kWh rounded to 0.01, the
  last part taking the remainder so the parts add up exactly). With **monthly thresholds** the
  thresholds are prorated the same way (d/N of each version's own thresholds), as supply
  companies do, so each part climbs its share of the ladder. With **yearly thresholds** the
  thresholds are not prorated: the year's ladder is cumulative, so each part starts where the
  consumption before it (``prior_kwh``, then the earlier parts) left off, on the thresholds of
  its own version. A yearly-threshold period across 1 January is split there the same way and
  the new year's part starts again from zero.
- **Tiers.** Up to the first threshold: the version's unit price; above it, up to the second:
  unit price + ``tier2_step`` (0.05 yuan/kWh); above the second: unit price + ``tier3_step``
  (0.30 yuan/kWh). A monthly-threshold ladder applies to the bill's period as one month (bills are
  monthly); a yearly ladder to the calendar year.
- **Time of use.** Each band's kWh at that band's price; needs the kWh per band.
- **Flat.** kWh × unit price.
- **Rounding.** Each line's amount is kWh × unit price rounded half-up to the fen; the bill is the
  sum of its lines.

``charges_for`` is pure: it computes from the versions it is given. ``bill_explanation`` and
``tier_position`` read the database.
"""

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal

from django.db.models import Max, Q
from django.utils.translation import gettext as _

from portal.core.money import ZERO, to_fen
from portal.models import ServiceAccount

from .models import Bill, BillStatus, LineKind, Tariff, TariffKind, TariffVersion, TierPeriod

KWH_STEP = Decimal("0.01")
NO_KWH = Decimal("0")


@dataclass(frozen=True)
class ChargeLine:
    """One line of an explanation: kWh in a tier, a band or at the flat price, and its cost."""

    kind: str
    """A ``LineKind`` value: "tier", "band" or "flat"."""
    label: str
    kwh: Decimal
    unit_price: Decimal
    amount: Decimal
    """kWh × unit price, rounded half-up to the fen (or the billing system's own amount)."""
    version: TariffVersion | None
    """The version whose price this is (None for a billing-system line of an unknown version)."""
    tier: int | None = None
    """1, 2 or 3 for a tier line."""


def _kwh(value: Decimal) -> Decimal:
    return value.quantize(KWH_STEP, rounding=ROUND_HALF_UP)


def _line(kind, label, kwh, unit_price, version, tier=None) -> ChargeLine:
    return ChargeLine(kind, label, kwh, unit_price, to_fen(kwh * unit_price), version, tier)


def version_in_force(versions: Sequence[TariffVersion], day: date) -> TariffVersion | None:
    """The version in force on ``day``: the latest one effective on or before it."""
    found = None
    for version in sorted(versions, key=lambda v: v.effective_from):
        if version.effective_from <= day:
            found = version
    return found


@dataclass(frozen=True)
class _Part:
    """A stretch of the period priced by one version (and, for yearly ladders, in one year)."""

    version: TariffVersion
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def _parts(
    versions: Sequence[TariffVersion], first: date, last: date, *, tiered: bool
) -> list[_Part] | None:
    """Split [first, last] where the version in force changes (and, under a tiered version with
    yearly thresholds, at 1 January). None when a day of the period has no version in force."""
    ordered = sorted(versions, key=lambda v: v.effective_from)
    parts = []
    day = first
    while day <= last:
        version = version_in_force(ordered, day)
        if version is None:
            return None
        end = last
        later = [v.effective_from for v in ordered if v.effective_from > day]
        if later:
            end = min(end, later[0] - timedelta(days=1))
        if tiered and version.tier_period == TierPeriod.YEARLY:
            end = min(end, date(day.year, 12, 31))
        parts.append(_Part(version, day, end))
        if end == date.max:  # a period ending on the calendar's last day: no day follows
            break
        day = end + timedelta(days=1)
    return parts


def _prorate(total: Decimal, parts: Sequence[_Part]) -> list[Decimal]:
    """``total`` shared by days, to 0.01 kWh; the last part takes the remainder."""
    days = sum(part.days for part in parts)
    shares = [_kwh(total * part.days / days) for part in parts[:-1]]
    return [*shares, total - sum(shares, NO_KWH)]


def _tier_lines(
    version: TariffVersion, *, start: Decimal, kwh: Decimal, limit1: Decimal, limit2: Decimal
) -> list[ChargeLine]:
    """Lines for ``kwh`` consumed from position ``start`` on the ladder with these thresholds."""
    end = start + kwh
    base = version.unit_price
    ladder = [
        (1, NO_KWH, limit1, base),
        (2, limit1, limit2, base + version.tier2_step),
        (3, limit2, None, base + version.tier3_step),
    ]
    lines = []
    for tier, low, high, price in ladder:
        used = (end if high is None else min(end, high)) - max(start, low)
        if used > 0:
            label = _("Tier %(tier)d") % {"tier": tier}
            lines.append(_line(LineKind.TIER, label, used, price, version, tier))
    return lines


def _tiered_ready(version: TariffVersion) -> bool:
    needed = (version.unit_price, version.tier1_limit_kwh, version.tier2_limit_kwh)
    return None not in needed and version.tier_period in TierPeriod.values


def _tiered(parts, kwh, prior_kwh) -> list[ChargeLine] | None:
    if not all(_tiered_ready(part.version) for part in parts):
        return None
    lines = []
    total_days = sum(part.days for part in parts)
    # Where each calendar year's ladder stands (yearly thresholds): prior_kwh in the first year.
    position = {parts[0].first.year: prior_kwh}
    for part, share in zip(parts, _prorate(kwh, parts), strict=True):
        version = part.version
        if version.tier_period == TierPeriod.YEARLY:
            start = position.get(part.first.year, NO_KWH)
            position[part.first.year] = start + share
            limits = (version.tier1_limit_kwh, version.tier2_limit_kwh)
        else:
            # Monthly ladder: this part's share of the days is its share of each threshold.
            start = NO_KWH
            limits = tuple(
                _kwh(limit * part.days / total_days)
                for limit in (version.tier1_limit_kwh, version.tier2_limit_kwh)
            )
        lines += _tier_lines(version, start=start, kwh=share, limit1=limits[0], limit2=limits[1])
    return lines


def _time_of_use(parts, kwh, band_kwh) -> list[ChargeLine] | None:
    if band_kwh is None or sum(band_kwh.values(), NO_KWH) != kwh:
        return None
    lines = []
    for code, band_total in band_kwh.items():
        for part, share in zip(parts, _prorate(Decimal(band_total), parts), strict=True):
            band = next((b for b in part.version.bands.all() if b.code == code), None)
            if band is None:
                return None
            if share > 0:
                lines.append(_line(LineKind.BAND, band.label, share, band.unit_price, part.version))
    return lines


def _flat(parts, kwh) -> list[ChargeLine] | None:
    if any(part.version.unit_price is None for part in parts):
        return None
    lines = []
    for part, share in zip(parts, _prorate(kwh, parts), strict=True):
        if share > 0:
            label = _("Energy")
            lines.append(_line(LineKind.FLAT, label, share, part.version.unit_price, part.version))
    return lines


def charges_for(
    *,
    versions: Sequence[TariffVersion],
    period_start: date,
    period_end: date,
    kwh: Decimal,
    prior_kwh: Decimal = NO_KWH,
    band_kwh: Mapping[str, Decimal] | None = None,
) -> list[ChargeLine] | None:
    """The lines that ``kwh`` consumed from ``period_start`` through ``period_end`` (inclusive)
    cost under a tariff, by the rules in this module's docstring.

    ``versions``: the tariff's versions (bands prefetched for time of use; ``version.tariff``
    gives the kind). ``prior_kwh``: for yearly thresholds, the kWh already used earlier in the
    calendar year of ``period_start``. ``band_kwh``: for time of use, kWh per band code; they must
    add up to ``kwh``.

    Returns None when the lines cannot be computed: no version in force on some day of the
    period, a version missing a price or threshold, a time-of-use tariff without (matching) kWh
    per band. Zero-kWh lines are left out.
    """
    if not versions or period_end < period_start or kwh < 0:
        return None
    kind = versions[0].tariff.kind
    parts = _parts(versions, period_start, period_end, tiered=kind == TariffKind.TIERED)
    if parts is None:
        return None
    if kind == TariffKind.TIERED:
        return _tiered(parts, Decimal(kwh), Decimal(prior_kwh))
    if kind == TariffKind.TIME_OF_USE:
        return _time_of_use(parts, Decimal(kwh), band_kwh)
    return _flat(parts, Decimal(kwh))


# --- Reading from the database ------------------------------------------------------------------


def tariff_with_versions(code: str) -> Tariff | None:
    """The tariff with this code, its versions and their bands loaded; None if unknown."""
    return Tariff.objects.prefetch_related("versions__bands").filter(code=code).first()


def _versions_during(versions: Sequence[TariffVersion], first: date, last: date):
    """The versions in force on some day of [first, last], oldest first."""
    ordered = sorted(versions, key=lambda v: v.effective_from)
    return [
        v
        for i, v in enumerate(ordered)
        if v.effective_from <= last
        and (i + 1 == len(ordered) or ordered[i + 1].effective_from > first)
    ]


def _share_in(bill_first: date, bill_last: date, kwh: Decimal, first: date, last: date):
    """The kWh of a bill falling in [first, last], prorated by days; and the overlap's last day."""
    lo, hi = max(bill_first, first), min(bill_last, last)
    if hi < lo:
        return NO_KWH, None
    days = (bill_last - bill_first).days + 1
    overlap = (hi - lo).days + 1
    return (kwh if overlap == days else _kwh(kwh * overlap / days)), hi


def prior_kwh_for(bill: Bill) -> Decimal:
    """For a yearly ladder: the kWh the account used earlier in the calendar year of the bill's
    first day, from its other non-cancelled bills that ended before that day (a bill that began
    in the previous year counts for its share of days in this year)."""
    year_start = date(bill.period_start.year, 1, 1)
    if bill.period_start == year_start:
        return NO_KWH  # nothing of the year came before (and no day before 0001-01-01)
    rows = (
        Bill.objects.filter(
            account_id=bill.account_id,
            period_end__gte=year_start,
            period_end__lt=bill.period_start,
        )
        .exclude(status=BillStatus.CANCELLED)
        .exclude(pk=bill.pk)
        .values_list("period_start", "period_end", "kwh")
    )
    day_before = bill.period_start - timedelta(days=1)
    return sum(
        (_share_in(first, last, kwh, year_start, day_before)[0] for first, last, kwh in rows),
        NO_KWH,
    )


Source = Literal["billing", "recomputed", "unavailable"]


@dataclass(frozen=True)
class Explanation:
    """How a bill's amount is made up, for the bill page."""

    lines: tuple[ChargeLine, ...]
    source: Source
    """"billing": the billing system's own lines; "recomputed": ours, adding up exactly to the
    bill's amount; "unavailable": no lines (the bill's amount stands, unexplained)."""
    versions: tuple[TariffVersion, ...]
    """The versions in force during the bill's period (each has its ``effective_from``)."""
    tariff: Tariff | None
    missing_prices_on: date | None = None
    """"unavailable" because the tariff has no version in force on this day of the period (the
    first such day): a gap in the price data, for staff to fill."""

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


def bill_explanation(bill: Bill) -> Explanation:
    """The bill's lines: the billing system's, if it sent any; otherwise our recomputation from
    the tariff, but only if it adds up *exactly* to the bill's amount. Anything else (unknown
    tariff, a time-of-use bill without lines, a missing version, a different total) is
    "unavailable" with no lines: never a wrong explanation."""
    tariff = tariff_with_versions(bill.tariff_code)
    all_versions = list(tariff.versions.all()) if tariff else []
    versions = tuple(_versions_during(all_versions, bill.period_start, bill.period_end))
    if not versions and bill.tariff_version_id:
        versions = (bill.tariff_version,)
    sent = list(bill.lines.all())
    if sent:
        lines = tuple(
            ChargeLine(
                kind=line.kind,
                label=line.label,
                kwh=line.kwh,
                unit_price=line.unit_price,
                amount=line.amount,
                version=bill.tariff_version,
            )
            for line in sent
        )
        return Explanation(lines, "billing", versions, tariff)
    unavailable = Explanation((), "unavailable", versions, tariff)
    if tariff is None:
        return unavailable
    first_price = min((v.effective_from for v in all_versions), default=None)
    if first_price is None or first_price > bill.period_start:
        # Versions only ever start later, so the period's first day is the first one unpriced.
        return Explanation((), "unavailable", versions, tariff, bill.period_start)
    prior = NO_KWH
    if tariff.kind == TariffKind.TIERED and any(
        v.tier_period == TierPeriod.YEARLY for v in versions
    ):
        prior = prior_kwh_for(bill)
    lines = charges_for(
        versions=all_versions,
        period_start=bill.period_start,
        period_end=bill.period_end,
        kwh=bill.kwh,
        prior_kwh=prior,
    )
    if lines is None or sum((line.amount for line in lines), ZERO) != bill.amount:
        return unavailable
    return Explanation(tuple(lines), "recomputed", versions, tariff)


@dataclass(frozen=True)
class TierPosition:
    """Where an account stands on its tier ladder in the current tier period (for the gauge)."""

    tariff: Tariff
    version: TariffVersion
    """The version in force on the day asked about: its thresholds are shown."""
    tier_period: str
    period_start: date
    period_end: date
    """The month or calendar year containing the day asked about."""
    used_kwh: Decimal
    """kWh billed for days of this period so far."""
    billed_until: date | None
    """The last day of the period covered by a bill (None: no bill for this period yet)."""
    thresholds: tuple[Decimal, Decimal]
    tier: int
    """1, 2 or 3: the tier the last billed kWh fell in."""
    left_in_tier_kwh: Decimal | None
    """kWh until the next tier starts (None in tier 3)."""
    pace_kwh_per_day: Decimal
    """Average daily consumption (0 when unknown), rounded to 0.01 kWh."""
    pace_from_earlier_bill: bool
    """True when no bill of this period exists yet and the pace is the latest earlier bill's."""
    crossing_date: date | None
    """The day consumption would first pass into the next tier at that pace; None in tier 3, at
    no pace, or when it would not happen before the period ends (the ladder starts again)."""


def _tier_period_bounds(period: str, day: date) -> tuple[date, date]:
    if period == TierPeriod.YEARLY:
        return date(day.year, 1, 1), date(day.year, 12, 31)
    last = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=1), day.replace(day=last)


def tier_prices_missing(*, account, as_of: date) -> bool:
    """The account's tariff is tiered but has no complete version in force on ``as_of``: where it
    stands on the ladder cannot be worked out (``tier_position`` is None for that reason)."""
    tariff = tariff_with_versions(account.tariff_code)
    if tariff is None or tariff.kind != TariffKind.TIERED:
        return False
    version = version_in_force(list(tariff.versions.all()), as_of)
    return version is None or not _tiered_ready(version)


def tier_position(*, account, as_of: date) -> TierPosition | None:
    """The account's position on its tier ladder in the month or calendar year (by the tariff's
    tier period) containing ``as_of``. None unless the account's tariff is tiered with a
    complete version in force on ``as_of``.

    Assumptions (we know consumption only from bills; there are no meter readings here):

    - kWh used so far: the account's non-cancelled bills whose periods overlap the tier period
      up to ``as_of``, each counted for its share of days inside the tier period (pro rata by
      days, as across a price change);
    - the thresholds are those of the version in force on ``as_of``, not prorated; the tier is
      the one the last billed kWh fell in (a total exactly at a threshold is still the lower tier);
    - pace: kWh used so far ÷ the days from the period's first day through ``billed_until``. With
      no bill of this period yet (typical for a monthly ladder mid-month) it is the latest earlier
      bill's kWh ÷ its days, and ``pace_from_earlier_bill`` says so;
    - the forecast counts from the day after ``billed_until`` (or from the period's first day):
      the first day on which used + pace × days passes the next threshold. No forecast in tier 3,
      at a pace of 0, or if that day falls after the period ends.
    """
    tariff = tariff_with_versions(account.tariff_code)
    if tariff is None or tariff.kind != TariffKind.TIERED:
        return None
    version = version_in_force(list(tariff.versions.all()), as_of)
    if version is None or not _tiered_ready(version):
        return None
    first, last = _tier_period_bounds(version.tier_period, as_of)
    bills = list(
        Bill.objects.filter(account=account, period_start__lte=as_of)
        .exclude(status=BillStatus.CANCELLED)
        .order_by("period_end")
        .values_list("period_start", "period_end", "kwh")
    )
    used, billed_until = NO_KWH, None
    for bill_first, bill_last, kwh in bills:
        share, until = _share_in(bill_first, bill_last, kwh, first, min(last, as_of))
        used += share
        if until is not None:
            billed_until = max(billed_until or until, until)

    pace, from_earlier = NO_KWH, False
    if billed_until is not None:
        pace = used / ((billed_until - first).days + 1)
    else:
        earlier = [row for row in bills if row[1] < first]
        if earlier:
            bill_first, bill_last, kwh = earlier[-1]
            pace, from_earlier = kwh / ((bill_last - bill_first).days + 1), True

    limits = (version.tier1_limit_kwh, version.tier2_limit_kwh)
    tier = 1 if used <= limits[0] else 2 if used <= limits[1] else 3
    left = None if tier == 3 else limits[tier - 1] - used
    crossing = None
    if left is not None and pace > 0:
        # Day n after the counting starts is the first with used + pace·n > threshold. Compared
        # in days before it becomes a date: a tiny pace puts it past the calendar's end.
        days = int((left / pace).to_integral_value(rounding=ROUND_FLOOR)) + 1
        counted_to = billed_until or first - timedelta(days=1)
        if days <= (last - counted_to).days:
            crossing = counted_to + timedelta(days=days)
    return TierPosition(
        tariff=tariff,
        version=version,
        tier_period=version.tier_period,
        period_start=first,
        period_end=last,
        used_kwh=used,
        billed_until=billed_until,
        thresholds=limits,
        tier=tier,
        left_in_tier_kwh=left,
        pace_kwh_per_day=_kwh(pace),
        pace_from_earlier_bill=from_earlier,
        crossing_date=crossing,
    )


# --- What staff may change (payments/wagtail_hooks.py) ------------------------------------------
# Prices and rules that bills were already computed with are history: they are never edited or
# deleted in place. A price change is a new version with a later date; a rule change, a new rule.


def version_problems(
    *,
    kind: str,
    unit_price: Decimal | None,
    tier_period: str,
    tier1_limit_kwh: Decimal | None,
    tier2_limit_kwh: Decimal | None,
    bands: int,
) -> dict[str, str]:
    """What is wrong with a version of a tariff of ``kind``, by field name ("bands" for its
    time-of-use bands). Empty when the version is complete: ``charges_for`` can price with it."""
    problems = {}
    if kind == TariffKind.TIERED and unit_price is None:
        problems["unit_price"] = _("A tiered tariff needs the first tier's unit price.")
    if kind == TariffKind.FLAT and unit_price is None:
        problems["unit_price"] = _("A flat tariff needs a unit price.")
    if unit_price is not None and unit_price < 0:
        problems["unit_price"] = _("A price cannot be negative.")
    if kind == TariffKind.TIERED:
        if not tier_period:
            problems["tier_period"] = _("Say whether the thresholds are monthly or yearly.")
        for field, limit in (
            ("tier1_limit_kwh", tier1_limit_kwh),
            ("tier2_limit_kwh", tier2_limit_kwh),
        ):
            if limit is None:
                problems[field] = _("A tiered tariff needs both thresholds.")
            elif limit <= 0:
                problems[field] = _("A threshold must be more than 0 kWh.")
        if (
            tier1_limit_kwh is not None
            and tier2_limit_kwh is not None
            and tier2_limit_kwh <= tier1_limit_kwh
        ):
            problems["tier2_limit_kwh"] = _("The second threshold must be above the first.")
    if kind == TariffKind.TIME_OF_USE and bands < 1:
        problems["bands"] = _("A time-of-use tariff needs at least one band.")
    if kind != TariffKind.TIME_OF_USE and bands:
        problems["bands"] = _("Only time-of-use tariffs have bands.")
    return problems


def version_billed_through(version: TariffVersion) -> date | None:
    """The last day of a bill priced with ``version`` (None if no bill used it): a bill that
    names it, or a bill on its tariff whose period falls partly in the days it is in force."""
    next_from = (
        TariffVersion.objects.filter(
            tariff_id=version.tariff_id, effective_from__gt=version.effective_from
        )
        .order_by("effective_from")
        .values_list("effective_from", flat=True)
        .first()
    )
    in_force = Q(tariff_code=version.tariff.code, period_end__gte=version.effective_from)
    if next_from is not None:
        in_force &= Q(period_start__lt=next_from)
    return Bill.objects.filter(Q(tariff_version=version) | in_force).aggregate(
        last=Max("period_end")
    )["last"]


def version_date_billed_through(
    *, tariff: Tariff, effective_from: date, exclude_pk: int | None = None
) -> date | None:
    """A version starting on ``effective_from`` takes its days from the version in force before
    it. If bills were already priced on those days, the last such day (the new version must
    start after it); None if the date is free. Days no version covered are free: adding an older
    version to fill them changes nothing that was explained."""
    others = TariffVersion.objects.filter(tariff=tariff).exclude(pk=exclude_pk)
    before = others.filter(effective_from__lt=effective_from).order_by("-effective_from").first()
    if before is None:
        return None
    next_from = (
        others.filter(effective_from__gt=effective_from)
        .order_by("effective_from")
        .values_list("effective_from", flat=True)
        .first()
    )
    taken = Q(tariff_code=tariff.code, period_end__gte=effective_from)
    if next_from is not None:
        taken &= Q(period_start__lt=next_from)
    named = Q(tariff_version=before, period_end__gte=effective_from)
    return Bill.objects.filter(taken | named).aggregate(last=Max("period_end"))["last"]


def penalty_rule_in_force(rule, *, today: date) -> bool:
    """A rule in force today or before may have priced a penalty already: it stays as it is."""
    return rule.effective_from <= today


def tariff_flags_clear(*, code: str) -> dict[str, int]:
    """Staff defined tariff ``code``: accounts and bills that named it are no longer flagged as
    having an unknown tariff. Returns how many of each were cleared (for the audit record)."""
    flagged = Q(tariff_code=code, tariff_unknown=True)
    return {
        "accounts": ServiceAccount.objects.filter(flagged).update(tariff_unknown=False),
        "bills": Bill.objects.filter(flagged).update(tariff_unknown=False),
    }
