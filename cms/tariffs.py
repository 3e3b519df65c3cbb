"""The tariff page's figures: the tariffs of the payments app with the version in force on a day
and any announced after it (``payments.tariffs.version_in_force``, the rule bills are priced by),
by region, with each tier's thresholds and price or each time-of-use band's."""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from payments.models import Tariff, TariffBand, TariffKind, TariffVersion
from payments.tariffs import version_in_force
from portal.models import CustomerClass

CLASS_ORDER = {value: position for position, value in enumerate(CustomerClass.values)}


@dataclass(frozen=True)
class Tier:
    number: int
    above_kwh: Decimal | None
    """The consumption the tier starts above (None for the first)."""
    up_to_kwh: Decimal | None
    """Where it ends (None for the last)."""
    price: Decimal


@dataclass(frozen=True)
class Prices:
    """One version of a tariff: from when, and its tiers, bands or flat price."""

    version: TariffVersion
    in_force: bool
    """In force on the day asked about (else announced for later)."""
    tiers: list[Tier] = field(default_factory=list)
    bands: list[TariffBand] = field(default_factory=list)


@dataclass(frozen=True)
class TariffPrices:
    tariff: Tariff
    prices: list[Prices]


@dataclass(frozen=True)
class Region:
    name: str
    """The tariff's region; "" for tariffs that name none."""
    tariffs: list[TariffPrices]


def tariffs_published(*, on: date) -> list[Region]:
    """Every tariff with a version in force ``on`` or announced after it, by region (named
    regions first, in order; "" last), residential first inside a region. Three queries."""
    tariffs = Tariff.objects.prefetch_related("versions__bands").order_by("code")
    regions: dict[str, list[TariffPrices]] = {}
    for tariff in tariffs:
        versions = sorted(tariff.versions.all(), key=lambda v: v.effective_from)
        current = version_in_force(versions, on)
        shown = [v for v in versions if v == current or v.effective_from > on]
        if not shown:
            continue
        prices = [_prices(tariff, v, in_force=v == current) for v in shown]
        regions.setdefault(tariff.region, []).append(TariffPrices(tariff, prices))
    ordered = sorted(regions, key=lambda name: (name == "", name))
    return [
        Region(
            name,
            sorted(
                regions[name],
                key=lambda t: (CLASS_ORDER.get(t.tariff.customer_class, 99), t.tariff.code),
            ),
        )
        for name in ordered
    ]


def _prices(tariff: Tariff, version: TariffVersion, *, in_force: bool) -> Prices:
    if tariff.kind == TariffKind.TIME_OF_USE:
        return Prices(version, in_force, bands=list(version.bands.all()))
    if tariff.kind == TariffKind.TIERED and None not in (
        version.unit_price,
        version.tier1_limit_kwh,
        version.tier2_limit_kwh,
    ):
        base, first, second = version.unit_price, version.tier1_limit_kwh, version.tier2_limit_kwh
        return Prices(
            version,
            in_force,
            tiers=[
                Tier(1, None, first, base),
                Tier(2, first, second, base + version.tier2_step),
                Tier(3, second, None, base + version.tier3_step),
            ],
        )
    return Prices(version, in_force)
