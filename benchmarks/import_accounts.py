"""Time `manage.py import_accounts` on generated files and measure its peak memory.

    .venv/bin/python benchmarks/import_accounts.py                      # 100k rows, SQLite
    .venv/bin/python benchmarks/import_accounts.py --rows 100000 1000000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/import_accounts.py --rows 100000

For each size it generates a CSV file (realistic Chinese names and addresses, every class and
status, some phones and e-mails, one tariff code in twenty unknown), migrates a fresh database
and runs the command three times, each in its own process: the first run creates every account,
the second finds them all unchanged, the third gets a file where one row in ten changed. It
reports rows per second (Django's start-up left out) and the process's peak resident memory,
next to its resident memory once Django is set up, so the import's own share is visible.

The database is new for every size: a temporary SQLite file, or on PostgreSQL a database named
powerhall_bench_import created next to the one DATABASE_URL names (and dropped afterwards). Not
part of any test run (docs/integration.md has the figures).
"""

import argparse
import csv
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BENCH_DB = "powerhall_bench_import"
COLUMNS = (
    "account_number",
    "holder_name",
    "address",
    "district",
    "feeder",
    "customer_class",
    "tariff_code",
    "status",
    "meter_number",
    "phone",
    "email",
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华"
DISTRICTS = (
    "浦东新区", "黄浦区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区", "闵行区",
)  # fmt: skip
ROADS = ("世纪大道", "南京东路", "漕溪北路", "延安西路", "南京西路", "曹杨路", "四川北路", "控江路")
CLASSES = ("residential",) * 17 + ("lv_business", "lv_business", "hv_single", "hv_dual")
STATUSES = ("active",) * 18 + ("suspended", "closed")
TARIFFS = ("RES-TIER", "LV-BIZ", "HV-10KV-TOU", "HV-35KV-TOU")


def generate(
    path: Path, rows: int, *, changed_every: int = 0, seed: int = 2026, start: int = 0
) -> None:
    """Write accounts ``start`` to ``rows`` (numbered by their place); with ``changed_every`` n,
    every n-th row gets another status."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for n in range(start, rows):
            district = rng.choice(DISTRICTS)
            street = f"{rng.choice(ROADS)} {rng.randint(1, 999)} 号 {rng.randint(1, 30)}01 室"
            customer_class = rng.choice(CLASSES)
            holder = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(("", *GIVEN))
            if customer_class != "residential":
                holder = f"上海{holder}实业有限公司"
            status = rng.choice(STATUSES)
            if changed_every and n % changed_every == 0:
                status = "suspended" if status == "active" else "active"
            writer.writerow(
                (
                    f"31{n:08d}",
                    holder,
                    district + street,
                    district,
                    f"10kV {rng.choice(ROADS)}线",
                    customer_class,
                    "UNKNOWN-TARIFF" if n % 20 == 0 else rng.choice(TARIFFS),
                    status,
                    f"M{n:010d}",
                    f"139{n:08d}" if n % 3 == 0 else "",
                    f"customer{n}@example.cn" if n % 5 == 0 else "",
                )
            )


# Runs in a fresh process per import: Django's start-up is left out of the timing (on a busy
# machine it takes longer than a 20,000-row import), and the memory figures are this import's.
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
call_command("import_accounts", sys.argv[1], stdout=out)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
summary = next(line for line in out.getvalue().splitlines() if " rows: " in line)
print(json.dumps({"seconds": seconds, "rss_before": before, "peak_rss": peak, "summary": summary}))
"""


def run_driver(driver: str, path: Path, env: dict) -> dict:
    """Run ``driver`` (a script printing its figures as JSON) on ``path`` in a new process, so
    its peak memory is its own; ru_maxrss is in KiB on Linux. Shared by the import benchmarks."""
    # Our own fixed argument list, never user input.
    done = subprocess.run(  # noqa: S603
        [PYTHON, "-c", driver, str(path)],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings", "PYTHONPATH": str(ROOT)},
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"The import of {path} failed:\n{done.stderr[-5000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def manage(*args: str, env: dict) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


def postgres_admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def migrated_template(url: str) -> str:
    """`` TEMPLATE …`` when the test suite kept a migrated database for this code on the server
    (tests/db_snapshot.py), so the benchmark's ``migrate`` finds nothing left to do; else ""."""
    import psycopg

    from tests.db_snapshot import TEMPLATE_PREFIX, key

    template = TEMPLATE_PREFIX + key()
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template]).fetchone()
    return f' TEMPLATE "{template}"' if found else ""


def bench_database(var: Path, name: str = BENCH_DB) -> tuple[str, str, Callable[[], None]]:
    """(engine name, DATABASE_URL for the run, cleanup): SQLite under ``var``, or, when
    DATABASE_URL names PostgreSQL, a fresh database ``name`` on that server, dropped after."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return "sqlite", f"sqlite:///{var / 'bench.sqlite3'}", lambda: None
    parts = urlsplit(url)
    bench_url = urlunsplit(parts._replace(path=f"/{name}"))
    postgres_admin(url, f"DROP DATABASE IF EXISTS {name}")
    postgres_admin(url, f"CREATE DATABASE {name}{migrated_template(url)}")
    return "postgresql", bench_url, lambda: postgres_admin(url, f"DROP DATABASE {name}")


def bench_size(rows: int) -> dict:
    var = Path(tempfile.mkdtemp(prefix="powerhall-bench-import-"))
    engine, url, cleanup = bench_database(var)
    env = {**os.environ, "POWERHALL_VAR_DIR": str(var), "DATABASE_URL": url}
    try:
        manage("migrate", "--no-input", "-v", "0", env=env)
        tariffs = "from payments.models import Tariff;" + ";".join(
            f"Tariff.objects.create(code={code!r}, name={code!r})" for code in TARIFFS
        )
        manage("shell", "-c", tariffs, env=env)
        first, changed = var / "accounts.csv", var / "accounts-changed.csv"
        generate(first, rows)
        generate(changed, rows, changed_every=10)
        result = {
            "rows": rows,
            "database": engine,
            "file_mib": round(first.stat().st_size / 2**20, 1),
            "runs": {},
        }
        for name, path in (("create", first), ("unchanged", first), ("update_10pct", changed)):
            measured = run_driver(DRIVER, path, env)
            result["runs"][name] = {
                "seconds": round(measured["seconds"], 1),
                "rows_per_s": round(rows / measured["seconds"]),
                "rss_after_startup_mib": measured["rss_before"] // 1024,
                "peak_rss_mib": measured["peak_rss"] // 1024,
                "summary": measured["summary"].split(": ", 1)[1],
            }
            print(f"{engine} {rows:>9} {name:<13} {json.dumps(result['runs'][name])}", flush=True)
        return result
    finally:
        cleanup()
        shutil.rmtree(var, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000])
    args = parser.parse_args()
    results = [bench_size(rows) for rows in args.rows]
    report = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        ),
        "results": results,
    }
    out = ROOT / "benchmarks/results" / f"import_accounts-{results[0]['database']}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
