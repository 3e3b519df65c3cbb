"""Demo tariffs, bills and outside payments for the demo accounts of ``seed_demo`` (registered as
its seeders by payments/hooks.py).

Two years of monthly bills per demo account, sent through the real imports (``bills_import``
with tier and band lines where the tariff has them, then ``payments_import``), so the demo shows
what the billing system's files would leave behind. Plausible, not real: kWh follow the seasons
(air conditioning in summer, heating in winter), amounts are what the demo tariffs charge.

- Bills are issued on the 3rd of the month after their period and due on the 3rd of the month
  after that. The latest bill covers last month (before the 3rd, the month before) and is left
  unpaid: it is never overdue yet.
- Every earlier bill is paid a few days before its due date, at a counter, by bank direct debit
  or in another app, except: the resident's home account (3100000001) left the bill two before
  the latest unpaid, overdue for about a month, so its arrears timeline shows; the
  organisation's first low-voltage business account paid one bill 12 days late, with the
  penalty, so a penalty shows.

Idempotent: only bills and payments not imported before are sent, so a second run the same day
changes nothing (and writes no audit record); a run a month later adds that month's bill and
pays the one before. Consumption is a pure function of account and month, so it never changes.
"""

import io
import json
import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Q

from portal.core import clock
from portal.core.audit import audit_record
from portal.core.money import FEN
from portal.models import ServiceAccount

from .bill_import import bills_import
from .bills import penalty_rules
from .models import Bill, OutsidePayment, Tariff, TariffBand, TariffKind, TariffVersion
from .payment_import import payments_import
from .penalties import penalty_for
from .tariffs import charges_for, tariff_with_versions

DEMO_PRICE_SOURCE = "演示数据，非官方电价"
TOU_BANDS = [  # (code, label, yuan/kWh, hours)
    ("sharp", "尖", "1.3650", "7-8 月 11:00-13:00, 16:00-17:00"),
    ("peak", "峰", "1.1375", "10:00-15:00, 18:00-21:00"),
    ("flat", "平", "0.6825", "07:00-10:00, 15:00-18:00, 21:00-23:00"),
    ("valley", "谷", "0.2935", "23:00-07:00"),
]


def _tiers(period, tier1, tier2, price):
    return {
        "unit_price": Decimal(price),
        "tier_period": period,
        "tier1_limit_kwh": Decimal(tier1),
        "tier2_limit_kwh": Decimal(tier2),
    }


TARIFFS = [
    (
        "RES-TIER-M",
        "居民阶梯电价（月度）",
        "tiered",
        "北京",
        "residential",
        [
            (date(2024, 1, 1), _tiers("monthly", "240", "400", "0.4883"), []),
            (date(2026, 1, 1), _tiers("monthly", "240", "400", "0.4983"), []),
        ],
    ),
    (
        "RES-TIER-Y",
        "居民阶梯电价（年度）",
        "tiered",
        "上海",
        "residential",
        [
            (date(2024, 1, 1), _tiers("yearly", "3120", "4800", "0.6170"), []),
            (date(2026, 1, 1), _tiers("yearly", "3120", "4800", "0.6270"), []),
        ],
    ),
    (
        "LV-BIZ-FLAT",
        "一般工商业单一制",
        "flat",
        "北京",
        "lv_business",
        [(date(2024, 1, 1), {"unit_price": Decimal("0.6894")}, [])],
    ),
    (
        "HV-TOU-10KV",
        "大工业分时电价 10kV",
        "time_of_use",
        "北京",
        "",
        [(date(2024, 1, 1), {}, TOU_BANDS)],
    ),
]

# (number, holder, address, district, feeder, class, tariff, status, meter, phone)

MONTHS = 24
ISSUE_DAY = 3
OVERDUE_ACCOUNT, OVERDUE_BILLS_AGO = "3100000001", 2
LATE_BILLS_AGO = 3
# A price for accounts whose tariff the portal does not know (LEGACY-R1): their bills carry no
# lines, as the billing system would send them.
FALLBACK_PRICE = Decimal("0.4883")
TIER_LABELS = {1: "第一档", 2: "第二档", 3: "第三档"}
# Relative consumption per calendar month: cooling peaks in July-August, heating in winter.
SEASON = {
    1: 1.25, 2: 1.15, 3: 0.9, 4: 0.8, 5: 0.85, 6: 1.1,
    7: 1.45, 8: 1.5, 9: 1.05, 10: 0.8, 11: 0.9, 12: 1.15,
}  # fmt: skip
# Typical monthly kWh per customer class (residential stays within 150-450).
BASE_KWH = {"residential": 260, "lv_business": 3200, "hv_single": 42000, "hv_dual": 65000}
CHANNELS = ("bank_debit", "counter", "other_app", "bank_debit")
RESIDENTIAL_ACCOUNTS = [f"310000000{n}" for n in range(1, 5)]
BUSINESS_PREFIX = "52000000"  # the demo organisation's accounts


def _month_start(day: date, months_back: int) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def _periods(today: date) -> list[tuple[date, date, date, date]]:
    """(period start, period end, issue date, due date) of the demo bills, oldest first."""
    latest = _month_start(today, 1 if today.day >= ISSUE_DAY else 2)
    periods = []
    for back in range(MONTHS - 1, -1, -1):
        start = _month_start(latest, back)
        issue_month = _month_start(start, -1)
        end = issue_month - timedelta(days=1)
        issue = issue_month.replace(day=ISSUE_DAY)
        periods.append((start, end, issue, _month_start(issue_month, -1).replace(day=ISSUE_DAY)))
    return periods


def _kwh(account, month: date) -> Decimal:
    """The account's consumption in ``month``: seasonal, the same on every run."""
    rng = random.Random(f"{account.number}-{month.isoformat()}")  # nosec
    base = BASE_KWH.get(account.customer_class, 260) * SEASON[month.month]
    kwh = round(base * rng.uniform(0.85, 1.15))
    if account.customer_class == "residential":
        kwh = min(max(kwh, 150), 450)
    return Decimal(kwh)


def _bands(kwh: Decimal, month: date) -> dict[str, Decimal]:
    """kWh per time-of-use band: the sharp band (尖) only in July and August."""
    shares = {"sharp": Decimal("0.05") if month.month in (7, 8) else 0, "peak": Decimal("0.33")}
    shares["flat"] = Decimal("0.34")
    bands = {code: (kwh * share).quantize(FEN) for code, share in shares.items()}
    bands["valley"] = kwh - sum(bands.values())
    return bands


def _bill(account, tariff, period, prior_kwh: Decimal) -> dict:
    start, end, issue, due = period
    kwh = _kwh(account, start)
    record = {
        "bill_number": f"DB-{account.number}-{start:%Y%m}",
        "account_number": account.number,
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "issue_date": issue.isoformat(),
        "due_date": due.isoformat(),
        "kwh": str(kwh),
        "tariff_code": account.tariff_code,
    }
    charges = None
    if tariff is not None:
        charges = charges_for(
            versions=list(tariff.versions.all()),
            period_start=start,
            period_end=end,
            kwh=kwh,
            prior_kwh=prior_kwh,
            band_kwh=_bands(kwh, start) if tariff.kind == TariffKind.TIME_OF_USE else None,
        )
    if charges is None:
        record["amount"] = str((kwh * FALLBACK_PRICE).quantize(FEN))
        return record
    record["amount"] = str(sum((line.amount for line in charges), Decimal(0)))
    if tariff.kind != TariffKind.FLAT:  # a flat price has no lines in the interchange format
        record["lines"] = [
            {
                "kind": line.kind,
                "label": TIER_LABELS.get(line.tier, line.label),
                "kwh": str(line.kwh),
                "unit_price": str(line.unit_price),
                "amount": str(line.amount),
            }
            for line in charges
        ]
    return record


def _payments(account, bills: list[dict], rules, *, late: bool) -> list[dict]:
    """Outside payments for the account's bills but the latest (and, for the overdue account,
    the one OVERDUE_BILLS_AGO); if ``late``, one of them is paid late, with its penalty."""
    payments = []
    for back, bill in enumerate(reversed(bills[:-1]), start=1):
        if account.number == OVERDUE_ACCOUNT and back == OVERDUE_BILLS_AGO:
            continue
        due = date.fromisoformat(bill["due_date"])
        amount = Decimal(bill["amount"])
        rng = random.Random(bill["bill_number"])  # nosec
        paid_on = due - timedelta(days=rng.randint(2, 12))
        if late and back == LATE_BILLS_AGO:
            paid_on = due + timedelta(days=12)
            amount += penalty_for(
                amount=amount,
                due_date=due,
                as_of=paid_on,
                customer_class=account.customer_class,
                rules=rules,
            ).total
        paid_at = datetime.combine(paid_on, time(rng.randint(8, 20), rng.randint(0, 59)))
        payments.append(
            {
                "payment_reference": f"DP-{bill['bill_number'][3:]}",
                "bill_number": bill["bill_number"],
                "amount": str(amount),
                "paid_at": paid_at.replace(tzinfo=clock.BUSINESS_TIME_ZONE).isoformat(),
                "channel": CHANNELS[rng.randrange(len(CHANNELS))],
            }
        )
    return payments[::-1]


def _jsonl(records: list[dict]) -> io.BytesIO:
    text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    return io.BytesIO(text.encode())


def seed_bills(stdout=None, *, accounts=None) -> None:
    """Import the demo bills and payments that are not there yet (see the module docstring):
    the demo accounts', or those of ``accounts`` (the load test's residents, benchmarks/load.py)."""
    if accounts is None:
        accounts = ServiceAccount.objects.filter(
            Q(number__in=RESIDENTIAL_ACCOUNTS) | Q(number__startswith=BUSINESS_PREFIX)
        )
    accounts = sorted(accounts, key=lambda account: account.number)
    late = next((a for a in accounts if a.customer_class == "lv_business"), None)
    periods = _periods(clock.today())
    tariffs = {code: tariff_with_versions(code) for code in {a.tariff_code for a in accounts}}
    rules = penalty_rules()
    bills, payments = [], []
    for account in accounts:
        tariff = tariffs[account.tariff_code]
        account_bills = []
        for period in periods:
            start = period[0]
            # Yearly ladders count from 1 January: the kWh of this year's earlier months.
            prior = sum((_kwh(account, date(start.year, m, 1)) for m in range(1, start.month)), 0)
            account_bills.append(_bill(account, tariff, period, Decimal(prior)))
        bills += account_bills
        payments += _payments(account, account_bills, rules, late=account == late)

    stored = set(Bill.objects.filter(number__startswith="DB-").values_list("number", flat=True))
    new_bills = [bill for bill in bills if bill["bill_number"] not in stored]
    paid = set(
        OutsidePayment.objects.filter(reference__startswith="DP-").values_list(
            "reference", flat=True
        )
    )
    new_payments = [p for p in payments if p["payment_reference"] not in paid]
    for records, run_import, name in (
        (new_bills, bills_import, "seed_demo bills"),
        (new_payments, payments_import, "seed_demo payments"),
    ):
        if not records:
            continue
        report = run_import(stream=_jsonl(records), fmt="jsonl", file_name=name)
        if stdout is not None:
            stdout.write(
                f"  {name}: {report.created} imported, {report.unchanged} unchanged, "
                f"{report.rejected} rejected"
            )
        if report.rejected:
            raise RuntimeError(f"{name}: {[str(error) for error in report.errors[:5]]}")


def seed_tariffs(stdout=None) -> None:
    """The demo tariffs and their price versions. Adds what is missing and never changes a
    version that exists (staff may have edited it)."""
    created = []
    for code, name, kind, region, customer_class, versions in TARIFFS:
        tariff, _ = Tariff.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "kind": kind,
                "region": region,
                "customer_class": customer_class,
            },
        )
        if not tariff.versions.exists() and tariff.kind != kind:
            # An older seed made the tariff without a kind or prices.
            tariff.kind, tariff.region, tariff.customer_class = kind, region, customer_class
            tariff.save(update_fields=["kind", "region", "customer_class"])
        for effective_from, fields, bands in versions:
            version, new = TariffVersion.objects.get_or_create(
                tariff=tariff,
                effective_from=effective_from,
                defaults={**fields, "source": DEMO_PRICE_SOURCE},
            )
            if not new:
                continue
            for order, (band, label, price, hours) in enumerate(bands):
                TariffBand.objects.create(
                    version=version,
                    code=band,
                    label=label,
                    unit_price=Decimal(price),
                    hours=hours,
                    sort_order=order,
                )
            created.append(str(version))
    if created:
        audit_record(action="demo.tariff_versions_created", data={"versions": created})
