"""Time `manage.py import_bills` on generated files and measure its peak memory.

    .venv/bin/python benchmarks/import_bills.py                         # 100k bills, SQLite
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/import_bills.py --bills 100000 1000000
    .venv/bin/python benchmarks/import_bills.py --format jsonl          # with tier/band lines
    .venv/bin/python benchmarks/import_bills.py --bills 1000000 --runs create   # new bills only
    .venv/bin/python benchmarks/run.py --only import    # 200k bills (BENCH_IMPORT_BILLS)

For each size it creates one account per twelve bills (through `import_accounts`, untimed), four
tariffs with versions, and a file of monthly bills for those accounts (one tariff code in twenty
unknown, so flagging is exercised; in JSON Lines every bill carries its tier or band lines). It
then runs the command three times, each in its own process: the first run creates every bill,
the second finds them all unchanged, the third gets a file where one bill in ten has a new
amount (nothing is paid yet, so each is replaced: a revision and a ledger entry). It reports
bills per second (Django's start-up left out) and the process's peak resident memory next to its
resident memory once Django is set up, so the import's own share is visible.

The database is new for every size: a temporary SQLite file, or on PostgreSQL a database named
bench_bills created next to the one DATABASE_URL names (and dropped afterwards). Not part of any
test run (docs/integration.md has the figures).
"""

import argparse
import csv
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.import_accounts import (  # noqa: E402
    bench_database,
    manage,
    run_driver,
)
from benchmarks.import_accounts import generate as generate_accounts  # noqa: E402

BENCH_DB = "bench_bills"
# Each in its own process, in this order: new bills, the same file again, one bill in ten revised.
RUNS = ("create", "unchanged", "replace_10pct")
COLUMNS = (
    "bill_number",
    "account_number",
    "period_start",
    "period_end",
    "issue_date",
    "due_date",
    "kwh",
    "amount",
    "tariff_code",
)
BILLS_PER_ACCOUNT = 12
# (code, first tier price or flat price, kind)
TARIFFS = (("RES-TIER", "0.4883", "tiered"), ("LV-BIZ", "0.6510", "flat"))
BANDS = (("peak", "峰", "1.0250"), ("flat", "平", "0.6510"), ("valley", "谷", "0.2770"))
FEN = Decimal("0.01")


def _months(count: int) -> list[tuple[date, date]]:
    """``count`` calendar months ending with last month."""
    first = date(2026, 11, 1)
    periods = []
    for _ in range(count):
        end = first - timedelta(days=1)
        first = end.replace(day=1)
        periods.append((first, end))
    return periods[::-1]


def _tier_lines(kwh: Decimal, price: Decimal) -> list[dict]:
    """Monthly tiers at 230 and 400 kWh, +0.05 and +0.30 yuan (DOMAIN.md)."""
    lines = []
    for label, low, high, step in (
        ("第一档", 0, 230, "0"),
        ("第二档", 230, 400, "0.05"),
        ("第三档", 400, None, "0.30"),
    ):
        part = min(kwh, Decimal(high)) - low if high is not None else kwh - low
        if part <= 0:
            break
        unit = price + Decimal(step)
        amount = (part * unit).quantize(FEN)
        lines.append(
            {
                "kind": "tier",
                "label": label,
                "kwh": str(part),
                "unit_price": str(unit),
                "amount": str(amount),
            }
        )
    return lines


def _band_lines(kwh: Decimal) -> list[dict]:
    shares = (Decimal("0.3"), Decimal("0.45"))
    parts = [(kwh * share).quantize(FEN) for share in shares]
    parts.append(kwh - sum(parts))
    return [
        {
            "kind": "band",
            "label": label,
            "kwh": str(part),
            "unit_price": price,
            "amount": str((part * Decimal(price)).quantize(FEN)),
        }
        for (_code, label, price), part in zip(BANDS, parts, strict=True)
    ]


def generate(
    path: Path, bills: int, *, fmt: str, revised_every: int = 0, seed: int = 2026, start: int = 0
):
    """Write monthly bills ``start`` to ``bills``, twelve per account (bill n is account
    n // 12's); with ``revised_every`` n, every n-th bill has 10 kWh more (a new amount)."""
    rng = random.Random(seed)
    periods = _months(BILLS_PER_ACCOUNT)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        if fmt == "csv":
            writer.writerow(COLUMNS)
        for n in range(start, bills):
            account, month = divmod(n, BILLS_PER_ACCOUNT)
            start, end = periods[month]
            residential = account % 5 != 0
            kwh = Decimal(rng.randint(90, 520) if residential else rng.randint(800, 9000))
            if revised_every and n % revised_every == 0:
                kwh += 10
            code, price = TARIFFS[0 if residential else 1][:2]
            if fmt == "jsonl":
                lines = _tier_lines(kwh, Decimal(price)) if residential else _band_lines(kwh)
                amount = sum((Decimal(line["amount"]) for line in lines), Decimal(0))
            else:
                amount = (kwh * Decimal(price)).quantize(FEN)
            issue = end + timedelta(days=5)
            row = {
                "bill_number": f"B{account:08d}{month:02d}",
                "account_number": f"31{account:08d}",
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
                "issue_date": issue.isoformat(),
                "due_date": (issue + timedelta(days=15)).isoformat(),
                "kwh": str(kwh),
                "amount": str(amount),
                "tariff_code": "UNKNOWN-TARIFF" if n % 20 == 0 else code,
            }
            if fmt == "csv":
                writer.writerow(row.values())
            else:
                out.write(json.dumps(row | {"lines": lines}, ensure_ascii=False) + "\n")


# Runs in a fresh process per import: Django's start-up is left out of the timing, and the
# memory figures are this import's (ru_maxrss is in KiB on Linux).
DRIVER = """
import io, json, resource, sys, time
import django
django.setup()
from django.core.management import call_command
from django.utils import translation
translation.activate("en")  # the summary is parsed below
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = io.StringIO()
started = time.perf_counter()
call_command("import_bills", sys.argv[1], stdout=out)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
summary = next(line for line in out.getvalue().splitlines() if " rows: " in line)
print(json.dumps({"seconds": seconds, "rss_before": before, "peak_rss": peak, "summary": summary}))
"""

SETUP = """
from datetime import date
from decimal import Decimal
from payments.models import Tariff, TariffBand, TariffVersion
tiered = Tariff.objects.create(code="RES-TIER", name="居民阶梯电价", kind="tiered")
TariffVersion.objects.create(tariff=tiered, effective_from=date(2012, 7, 1),
    unit_price=Decimal("0.4883"), tier_period="monthly", tier1_limit_kwh=230, tier2_limit_kwh=400)
flat = Tariff.objects.create(code="LV-BIZ", name="一般工商业", kind="flat")
for day in (date(2019, 4, 1), date(2026, 6, 1)):
    TariffVersion.objects.create(tariff=flat, effective_from=day, unit_price=Decimal("0.6510"))
for code in ("HV-10KV-TOU", "HV-35KV-TOU"):
    Tariff.objects.create(code=code, name=code, kind="time_of_use")
"""


def run_import(path: Path, env: dict, command: str = "import_bills") -> dict:
    return run_driver(DRIVER.replace("import_bills", command), path, env)


def accounts_ready(var: Path, env: dict, bills: int) -> None:
    """The benchmark database (``env``'s) migrated, with the tariffs and one account per twelve
    of ``bills`` imported (untimed): what a bill file of that size needs."""
    manage("migrate", "--no-input", "-v", "0", env=env)
    manage("shell", "-c", SETUP, env=env)
    accounts = var / "accounts.csv"
    generate_accounts(accounts, -(-bills // BILLS_PER_ACCOUNT))
    run_import(accounts, env, command="import_accounts")


def bench_size(bills: int, fmt: str, *, runs=RUNS, database: str = BENCH_DB) -> dict:
    var = Path(tempfile.mkdtemp(prefix="powerhall-bench-bills-"))
    engine, url, cleanup = bench_database(var, database)
    env = {**os.environ, "POWERHALL_VAR_DIR": str(var), "DATABASE_URL": url}
    try:
        accounts_ready(var, env, bills)
        first, revised = var / f"bills.{fmt}", var / f"bills-revised.{fmt}"
        generate(first, bills, fmt=fmt)
        generate(revised, bills, fmt=fmt, revised_every=10)
        result = {
            "bills": bills,
            "database": engine,
            "format": fmt,
            "file_mib": round(first.stat().st_size / 2**20, 1),
            "runs": {},
        }
        files = {"create": first, "unchanged": first, "replace_10pct": revised}
        for name in RUNS:
            if name not in runs:
                continue
            load_before = os.getloadavg()[0]
            measured = run_import(files[name], env)
            result["runs"][name] = {
                "seconds": round(measured["seconds"], 1),
                "bills_per_s": round(bills / measured["seconds"]),
                "rss_after_startup_mib": measured["rss_before"] // 1024,
                "peak_rss_mib": measured["peak_rss"] // 1024,
                # The machine's 1-minute load average before and after the run: the cores are
                # shared, and a busy machine slows the import and the server alike.
                "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                "summary": measured["summary"].split(": ", 1)[1],
            }
            print(f"{engine} {bills:>9} {name:<13} {json.dumps(result['runs'][name])}", flush=True)
        return result
    finally:
        cleanup()
        shutil.rmtree(var, ignore_errors=True)


def bench(sizes: list[int], *, fmt: str = "csv", runs=RUNS, database: str = BENCH_DB) -> dict:
    """Run the import benchmark for each size; write and return the report."""
    results = [bench_size(bills, fmt, runs=runs, database=database) for bills in sizes]
    report = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        ),
        "results": results,
    }
    name = f"import_bills-{results[0]['database']}-{fmt}.json"
    (ROOT / "benchmarks/results" / name).write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    )
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bills", type=int, nargs="+", default=[100_000])
    parser.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    parser.add_argument(
        "--runs", nargs="+", choices=RUNS, default=list(RUNS), help="which runs (default: all)"
    )
    parser.add_argument(
        "--database",
        default=BENCH_DB,
        help=f"name of the PostgreSQL database made and dropped for each size ({BENCH_DB})",
    )
    args = parser.parse_args()
    report = bench(args.bills, fmt=args.format, runs=args.runs, database=args.database)
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
