"""`make bench-scale`: the portal's pages as the database grows (issue 15, "Growth").

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/scale.py
    … benchmarks/scale.py --sizes 1000,100000           # a quicker run: 1 k and 100 k only
    … benchmarks/scale.py --keep                        # reuse what an earlier run built
    … benchmarks/scale.py --keep --measure-only         # measure again, build nothing
    … benchmarks/scale.py --smoke                       # tiny (100 and 300 accounts), own database

PostgreSQL only. One database (BENCH_SCALE_DB, default powerhall_scale, on the server
DATABASE_URL names) grows in steps, 1,000 → 100,000 → 1,000,000 accounts by default, each
account with twelve monthly bills, through the fast import paths (`import_accounts`, then
`import_bills`, each in its own process, from the files benchmarks/import_accounts.py and
benchmarks/import_bills.py generate), and one open case in the staff queue per ten accounts
(plus a third as many closed ones; benchmarks/application_queue.py, grown by each step). The
first step also makes the people the pages are read by: a resident with three accounts (the
dashboard, a bill of the home account overdue since November, with its penalty), the business of
benchmarks/org_dashboard.py (1,000 accounts, each with twelve bills here, and its member who sees
half of them) and the queue's reader. Each step ends with VACUUM ANALYZE (planner statistics and
the visibility map, as autovacuum keeps them on a live database) and, unless it is the last, a
copy of the database as it stands (`<name>_<accounts>`, CREATE DATABASE … TEMPLATE, seconds), so
every size can be measured, and measured again, after the database has grown past it. Nothing is
dropped afterwards: the database and its copies stay for the next run (--keep) or a look by hand;
without --keep, a run starts from an empty database.

At each size it serves the portal with gunicorn (benchmarks/serving.py: 2 sync workers) on that
size's database and requests, one after another, the resident's dashboard (/me/), the bill page,
the business accounts table (first page of 50, as the member) and the staff queue (the default
view: open, nearest deadline first), each alternately with the bare view (/bench/bare/), so both
see the same machine: p50 and p95 over --requests requests (200) after a warm-up, and the
1-minute load average. In-process with Django's test client (30 requests a page) it also takes
the statements a request runs and the medians of the process's CPU time (rendering, which should
not move with size) and of the time spent waiting on the statements (which an index missing or a
count over everything would make grow): on a busy machine those hold stiller than latency.
Writes benchmarks/results/scale.json (merged with the sizes measured before) and scale.md, and
the plot of p95 against size, docs/performance-scale.svg (docs/performance.md, "Growth").

The 1 M step is slow to build: 900,000 accounts and 10.8 M bills through the imports, about 45
minutes on a quiet two-core machine and two hours at load average 10 (its size: about 13 GiB,
1.3 GiB a hundred thousand accounts).
"""

import argparse
import csv
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.import_accounts import generate as generate_accounts  # noqa: E402
from benchmarks.import_accounts import manage, postgres_admin  # noqa: E402
from benchmarks.import_bills import BILLS_PER_ACCOUNT, SETUP, run_import  # noqa: E402
from benchmarks.import_bills import generate as generate_bills  # noqa: E402
from benchmarks.serving import gunicorn_start  # noqa: E402

PYTHON = sys.executable
RESULTS = ROOT / "benchmarks/results"
PLOT = ROOT / "docs/performance-scale.svg"
SIZES = (1_000, 100_000, 1_000_000)
SMOKE_SIZES = (100, 300)
ACCOUNTS_PER_OPEN_CASE = 10
BUSINESS_ACCOUNTS = 1_000
RESIDENT = "resident@scale.bench.powerhall.cn"
# The resident's accounts: places in the imported file (account n is 31 followed by n on 8 digits;
# n % 5 != 0 is residential there), the first is home.
RESIDENT_ACCOUNTS = ((1, "家"), (2, "父母家"), (3, "店铺"))
PAGES = ("dashboard", "bill", "business_table", "staff_queue")
TITLES = {
    "dashboard": "resident dashboard /me/",
    "bill": "bill page (overdue, penalty)",
    "business_table": "business accounts table (1,000, page 1)",
    "staff_queue": "staff queue (default view)",
}


# --- The database and its copies ---------------------------------------------------------------
def server_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("benchmarks/scale.py runs on PostgreSQL only: set DATABASE_URL")
    return url


def database_url(name: str) -> str:
    return urlunsplit(urlsplit(server_url())._replace(path=f"/{name}"))


def state(name: str) -> dict | None:
    """What the database ``name`` holds (its comment, written after each step), or None."""
    import psycopg

    with psycopg.connect(server_url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    if row is None:
        return None
    return json.loads(row[0]) if row[0] else {"accounts": 0, "steps": {}}


def state_write(name: str, value: dict) -> None:
    text = json.dumps(value).replace("'", "''")
    postgres_admin(server_url(), f"COMMENT ON DATABASE \"{name}\" IS '{text}'")


def copy_name(name: str, accounts: int) -> str:
    return f"{name}_{accounts}"


def database_size(name: str) -> int:
    import psycopg

    with psycopg.connect(server_url(), autocommit=True) as conn:
        return conn.execute("SELECT pg_database_size(%s)", (name,)).fetchone()[0]


def drop_all(name: str) -> None:
    """The database and its copies (``<name>_<digits>``)."""
    import psycopg

    with psycopg.connect(server_url(), autocommit=True) as conn:
        names = [
            row[0]
            for row in conn.execute("SELECT datname FROM pg_database").fetchall()
            if row[0] == name
            or (row[0].startswith(f"{name}_") and row[0].rsplit("_", 1)[1].isdigit())
        ]
        for each in names:
            conn.execute(f'DROP DATABASE "{each}" WITH (FORCE)')


# --- Building ---------------------------------------------------------------------------------
def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def build(name: str, sizes: list[int], *, keep: bool) -> dict:
    """Grow ``name`` through ``sizes``; return its state (the steps' build times)."""
    if not keep:
        drop_all(name)
    current = state(name)
    for n, size in enumerate(sizes):
        last = n == len(sizes) - 1
        if state(copy_name(name, size)) is not None:
            log(f"{size:,} accounts: the copy {copy_name(name, size)} exists, reused")
            continue
        current = state(name)
        held = current["accounts"] if current else 0
        if held > size:
            raise SystemExit(
                f"{name} holds {held:,} accounts, more than {size:,}, and has no copy at "
                f"{size:,}: run without --keep to build again"
            )
        if held < size:
            current = grow(name, held, size)
        if not last:
            log(f"copying {name} at {size:,} accounts to {copy_name(name, size)}")
            postgres_admin(
                server_url(), f'CREATE DATABASE "{copy_name(name, size)}" TEMPLATE "{name}"'
            )
            state_write(copy_name(name, size), current)
    return state(name) or {}


def grow(name: str, held: int, size: int) -> dict:
    """From ``held`` accounts to ``size``: accounts, their bills, cases, VACUUM ANALYZE."""
    current = state(name)
    if current is None:
        postgres_admin(server_url(), f'CREATE DATABASE "{name}"')
        current = {"accounts": 0, "steps": {}}
    var = Path(tempfile.mkdtemp(prefix="powerhall-bench-scale-"))
    env = {**os.environ, "POWERHALL_VAR_DIR": str(var), "DATABASE_URL": database_url(name)}
    step = {"from": held}
    started = time.perf_counter()
    try:
        if held == 0:
            log(f"{name}: migrate and tariffs")
            manage("migrate", "--no-input", "-v", "0", env=env)
            manage("shell", "-c", SETUP, env=env)
        accounts = var / "accounts.csv"
        generate_accounts(accounts, size, start=held)
        log(f"{name}: importing accounts {held:,} to {size:,}")
        run = run_import(accounts, env, command="import_accounts")
        step["accounts_s"] = round(run["seconds"], 1)
        step["accounts_summary"] = run["summary"]
        accounts.unlink()
        bills = var / "bills.csv"
        generate_bills(bills, size * BILLS_PER_ACCOUNT, fmt="csv", start=held * BILLS_PER_ACCOUNT)
        log(f"{name}: importing bills {held * 12:,} to {size * 12:,}")
        run = run_import(bills, env)
        step["bills_s"] = round(run["seconds"], 1)
        step["bills_summary"] = run["summary"]
        bills.unlink()
        if held == 0:
            log(f"{name}: the resident, the business and its bills")
            people = child("--people", env)
            business_bills(var, env, people["business_numbers"])
        log(f"{name}: open cases, then VACUUM ANALYZE")
        cases = child("--cases", env, str((size - held) // ACCOUNTS_PER_OPEN_CASE), str(size))
        step["cases_and_vacuum_s"] = cases["build_s"]
    finally:
        shutil.rmtree(var, ignore_errors=True)
    step["total_s"] = round(time.perf_counter() - started, 1)
    step["load_1min_after"] = round(os.getloadavg()[0], 2)
    current = {"accounts": size, "steps": {**current["steps"], str(size): step}}
    state_write(name, current)
    log(f"{name}: {size:,} accounts, {json.dumps(step, ensure_ascii=False)}")
    return current


def business_bills(var: Path, env: dict, numbers: list[str]) -> None:
    """Twelve bills for each of the business's accounts, through the import: the generated file
    for as many accounts, with the business's account numbers and bill numbers of their own."""
    generated, bills = var / "business-generated.csv", var / "business.csv"
    generate_bills(generated, len(numbers) * BILLS_PER_ACCOUNT, fmt="csv", seed=15)
    with generated.open(encoding="utf-8") as source, bills.open("w", encoding="utf-8") as out:
        rows, writer = csv.DictReader(source), None
        for n, row in enumerate(rows):
            account, month = divmod(n, BILLS_PER_ACCOUNT)
            row["account_number"] = numbers[account]
            row["bill_number"] = f"O{numbers[account]}{month:02d}"
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
    run_import(bills, env)


def child(flag: str, env: dict, *args: str) -> dict:
    """This script with ``flag`` in a new process on ``env``'s database; its last line, JSON."""
    done = subprocess.run(  # noqa: S603 - this script, with arguments it built
        [PYTHON, __file__, flag, *args],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "benchmarks.settings"},
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{flag} failed:\n{done.stderr[-5000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def people() -> dict:
    """(Child, first step.) The resident with three of the imported accounts, the business of
    benchmarks/org_dashboard.py and the queue's reader with its staff and customers."""
    from allauth.account.models import EmailAddress
    from django.db import transaction

    from benchmarks.application_queue import _people
    from benchmarks.org_dashboard import _seed
    from portal.models import Binding, ServiceAccount, User

    with transaction.atomic():
        resident = User.objects.create_user(email=RESIDENT, password=None, name="王芳")
        EmailAddress.objects.create(user=resident, email=RESIDENT, verified=True, primary=True)
        for n, label in RESIDENT_ACCOUNTS:
            Binding.objects.create(
                account=ServiceAccount.objects.get(number=f"31{n:08d}"),
                user=resident,
                label=label,
                proof="holder_meter",
                bound_by=resident,
            )
        _people()
    org, _admin, _member = _seed(BUSINESS_ACCOUNTS)
    numbers = org.bindings.order_by("pk").values_list("account__number", flat=True)
    return {"business_numbers": list(numbers)}


def cases(open_cases: int, seed: int) -> dict:
    """(Child.) ``open_cases`` more open cases; VACUUM ANALYZE (application_queue.build)."""
    from benchmarks.application_queue import build as queue_build

    return queue_build(open_cases=open_cases, seed=seed, grow=True)


# --- Measuring --------------------------------------------------------------------------------
def pages(requests: int = 30) -> dict:
    """(Child, on one size's database.) Session cookies and paths of the four pages, what the
    database holds, and per page, in-process with Django's test client over ``requests``
    requests: the statements a request runs, and the medians of the process's CPU time
    (rendering: should not move with size) and of the time spent waiting on the statements
    (what an index or a count over everything would make grow)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from applications.models import OPEN_STATUSES, Case
    from benchmarks.application_queue import QUEUE, READER
    from payments.models import Bill
    from portal.models import Binding, Organisation, ServiceAccount, User

    home = Binding.objects.get(user__email=RESIDENT, label=RESIDENT_ACCOUNTS[0][1])
    bill = Bill.objects.filter(account=home.account, status="open").order_by("due_date").first()
    org = Organisation.objects.get(uscc="91110105MA0BENCH01")
    readers = {
        "dashboard": (RESIDENT, "/me/"),
        "bill": (RESIDENT, f"/bills/{bill.uuid}/"),
        "business_table": (
            "member@bench.example.cn",
            reverse("org:accounts", kwargs={"org": org.uuid}),
        ),
        "staff_queue": (READER, QUEUE),
    }
    result = {
        "counts": {
            "accounts": ServiceAccount.objects.count(),
            "bills": Bill.objects.count(),
            "open_cases": Case.objects.filter(status__in=OPEN_STATUSES).count(),
            "cases": Case.objects.count(),
        },
        "pages": {},
    }
    for page, (email, path) in readers.items():
        client = Client()
        client.force_login(User.objects.get(email=email))
        client.get(path)  # warm: the first request of a process reads more (content types…)
        cpu, sql = [], []
        for _ in range(max(requests, 1)):
            started = time.process_time()
            with CaptureQueriesContext(connection) as captured:
                response = client.get(path)
            cpu.append(time.process_time() - started)
            sql.append(sum(float(q["time"]) for q in captured.captured_queries))
        assert response.status_code == 200, (page, path, response.status_code)
        result["pages"][page] = {
            "path": path,
            "cookie": client.cookies["sessionid"].value,
            # SAVEPOINT / RELEASE are transaction control, not reads or writes.
            "queries": sum(1 for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]),
            "cpu_ms": round(statistics.median(cpu) * 1000, 1),
            "sql_ms": round(statistics.median(sql) * 1000, 1),
        }
    return result


def request_ms(port: int, path: str, cookie: str | None, *, timeout: float = 120) -> float:
    """One request on a new connection (gunicorn's sync workers close each): its time in ms,
    the whole body read."""
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise SystemExit(f"{path} answered {response.status}, not 200")
    return elapsed


def percentiles(times: list[float]) -> dict:
    cuts = statistics.quantiles(times, n=20, method="inclusive")
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(cuts[18], 1)}


def measure(name: str, size: int, requests: int, warmup: int) -> dict:
    """The four pages on the database of ``size`` accounts, served by gunicorn."""
    database = copy_name(name, size) if state(copy_name(name, size)) else name
    held = state(database)
    if not held or held["accounts"] != size:
        raise SystemExit(f"no database holds {size:,} accounts (build it first)")
    var = Path(tempfile.mkdtemp(prefix="powerhall-bench-scale-"))
    env = {**os.environ, "POWERHALL_VAR_DIR": str(var), "DATABASE_URL": database_url(database)}
    try:
        info = child("--pages", env)
        result = {
            "database": database,
            "database_mib": round(database_size(database) / 2**20),
            "counts": info["counts"],
            "requests": requests,
            "pages": {},
        }
        server, port = gunicorn_start(env)
        try:
            # The port is open before the workers have loaded Django (a minute on a busy machine).
            for _ in range(4):
                request_ms(port, "/bench/bare/", None, timeout=600)
            load_before = os.getloadavg()[0]
            bare_all = []
            for page in PAGES:
                path, cookie = info["pages"][page]["path"], info["pages"][page]["cookie"]
                for _ in range(warmup):
                    request_ms(port, path, cookie)
                    request_ms(port, "/bench/bare/", None)
                times, bare = [], []
                for _ in range(requests):
                    bare.append(request_ms(port, "/bench/bare/", None))
                    times.append(request_ms(port, path, cookie))
                bare_all += bare
                result["pages"][page] = {
                    **percentiles(times),
                    **{k: info["pages"][page][k] for k in ("queries", "cpu_ms", "sql_ms")},
                    "bare_p50_ms": round(statistics.median(bare), 1),
                }
                log(f"{size:>9,} {page:<15} {json.dumps(result['pages'][page])}")
            result["bare"] = percentiles(bare_all)
            result["load_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        finally:
            server.terminate()
            server.wait()
    finally:
        shutil.rmtree(var, ignore_errors=True)
    return result


# --- Report and plot --------------------------------------------------------------------------
def table(report: dict) -> str:
    sizes = sorted(report["sizes"], key=int)
    if not sizes:
        return ""
    first = report["sizes"][sizes[0]]
    lines = [
        "| page | "
        + " | ".join(f"{int(s):,} accounts" for s in sizes)
        + " | p95 ratio | p95 ratio, each over its bare view |",
        "|---|" + "---|" * (len(sizes) + 2),
    ]
    for page in PAGES:
        cells = []
        for s in sizes:
            p = report["sizes"][s]["pages"][page]
            cells.append(
                f"{p['p50_ms']} / {p['p95_ms']} ms; {p['queries']} q, "
                f"{p.get('sql_ms', '–')} ms SQL, {p.get('cpu_ms', '–')} ms CPU"
            )
        last = report["sizes"][sizes[-1]]["pages"][page]
        ratio = last["p95_ms"] / first["pages"][page]["p95_ms"]
        # The bare view requested alternately with the page saw the same machine: how much
        # slower the page grew beyond what the machine's load did to every request.
        relative = ratio / (last["bare_p50_ms"] / first["pages"][page]["bare_p50_ms"])
        lines.append(
            f"| {TITLES[page]} | " + " | ".join(cells) + f" | ×{ratio:.2f} | ×{relative:.2f} |"
        )
    bare = [
        f"{report['sizes'][s]['bare']['p50_ms']} / {report['sizes'][s]['bare']['p95_ms']} ms"
        for s in sizes
    ]
    lines.append("| bare view (reference) | " + " | ".join(bare) + " | | |")
    loads = [" → ".join(str(x) for x in report["sizes"][s]["load_1min"]) for s in sizes]
    lines.append("| load average (1 min) | " + " | ".join(loads) + " | | |")
    held = [
        f"{report['sizes'][s]['counts']['bills']:,} bills, "
        f"{report['sizes'][s]['counts']['open_cases']:,} open cases, "
        f"{report['sizes'][s]['database_mib']:,} MiB"
        for s in sizes
    ]
    lines.append("| database | " + " | ".join(held) + " | | |")
    about = (
        "p50 / p95 ms a request through gunicorn; then, in-process, statements a request and the "
        "medians of their time and of the process's CPU time\n\n"
    )
    return about + "\n".join(lines) + "\n"


COLOURS = {
    "dashboard": "#1f77b4",
    "bill": "#ff7f0e",
    "business_table": "#2ca02c",
    "staff_queue": "#d62728",
}


def size_label(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:g} M"
    return f"{size / 1000:g} k" if size >= 1000 else str(size)


def growth(report: dict, page: str, size: int) -> float:
    """How much ``page``'s p95 grew from the smallest size to ``size``, over how much its bare
    view's p50 grew in the same runs (the machine's load weighs on both)."""
    first = report["sizes"][str(min(int(s) for s in report["sizes"]))]["pages"][page]
    at = report["sizes"][str(size)]["pages"][page]
    return (at["p95_ms"] / first["p95_ms"]) / (at["bare_p50_ms"] / first["bare_p50_ms"])


def svg(report: dict) -> str:
    """For the four pages, p95 at each size (log scale) as a multiple of p95 at the smallest,
    each over its bare view (``growth``), with the issue's bound (1.5) dashed."""
    import math

    sizes = sorted(int(s) for s in report["sizes"])
    width, height = 880, 420
    left, right, top, bottom = 70, 330, 40, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    series = {page: [(s, growth(report, page, s)) for s in sizes] for page in PAGES}
    y_max = max(2.0, math.ceil(max(v for points in series.values() for _, v in points) * 2) / 2)
    step = 0.25 if y_max <= 2 else 0.5
    low, high = math.log10(min(sizes)), math.log10(max(sizes))
    high = high if high > low else low + 1

    def x(size):
        return left + (math.log10(size) - low) / (high - low) * plot_w

    def y(value):
        return top + plot_h - value / y_max * plot_h

    first = size_label(sizes[0])
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14">p95 against accounts, as a multiple of p95 at '
        f"{first} (each over its bare view), PostgreSQL</text>",
    ]
    for n in range(int(y_max / step) + 1):
        tick = n * step
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#ddd"/>'
        )
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">×{tick:g}</text>')
    out.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{y(1.5):.1f}" y2="{y(1.5):.1f}" '
        'stroke="#555" stroke-dasharray="6 4"/>'
    )
    out.append(
        f'<text x="{left + 6}" y="{y(1.5) - 5:.1f}" fill="#555">the bound: ×1.5 of {first}</text>'
    )
    for s in sizes:
        out.append(
            f'<line x1="{x(s):.1f}" x2="{x(s):.1f}" y1="{top}" y2="{top + plot_h}" stroke="#eee"/>'
        )
        out.append(
            f'<text x="{x(s):.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
            f"{size_label(s)}</text>"
        )
    out.append(
        f'<text x="{left + plot_w / 2}" y="{height - 15}" text-anchor="middle">accounts '
        "(log scale; twelve bills each)</text>"
    )
    out.append(
        f'<text transform="translate(18 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">'
        f"p95 / p95 at {first}</text>"
    )
    out.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>'
    )
    for n, (page, points) in enumerate(series.items()):
        colour = COLOURS[page]
        coords = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in points)
        out.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for s, v in points:
            out.append(f'<circle cx="{x(s):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}"/>')
        last = report["sizes"][str(sizes[-1])]["pages"][page]
        legend_y = top + 10 + n * 40
        out.append(
            f'<line x1="{left + plot_w + 15}" x2="{left + plot_w + 40}" y1="{legend_y}" '
            f'y2="{legend_y}" stroke="{colour}" stroke-width="2"/>'
        )
        out.append(f'<text x="{left + plot_w + 46}" y="{legend_y + 4}">{TITLES[page]}</text>')
        out.append(
            f'<text x="{left + plot_w + 46}" y="{legend_y + 20}" fill="#555">'
            f"×{points[-1][1]:.2f} at {size_label(sizes[-1])} (p95 {last['p95_ms']} ms)</text>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --- Main ---------------------------------------------------------------------------------------
def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in SIZES),
        help="accounts at each step, comma-separated, growing (1000,100000,1000000)",
    )
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_SCALE_DB", "powerhall_scale"),
        help="the database grown (BENCH_SCALE_DB, else powerhall_scale)",
    )
    parser.add_argument("--keep", action="store_true", help="reuse what is built, grow from it")
    parser.add_argument("--build-only", action="store_true", help="build, measure nothing")
    parser.add_argument("--measure-only", action="store_true", help="measure what is built")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="write scale.md and the plot again from benchmarks/results/scale.json",
    )
    parser.add_argument("--requests", type=int, default=200, help="per page and size (200)")
    parser.add_argument("--warmup", type=int, default=20, help="requests per page first (20)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="100 and 300 accounts in <database>_smoke, few requests",
    )
    parser.add_argument("--people", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cases", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pages", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.people or args.cases or args.pages:  # a child, on the database of its environment
        import django

        django.setup()
        if args.people:
            print(json.dumps(people()))
        elif args.cases:
            print(json.dumps(cases(*args.cases)))
        else:
            print(json.dumps(pages()))
        return

    if args.report_only:
        report = json.loads((RESULTS / "scale.json").read_text())
        (RESULTS / "scale.md").write_text(table(report))
        PLOT.write_text(svg(report))
        print(table(report))
        return
    # Stopped (kill): leave through the finally clauses, which stop gunicorn.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server_url()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    name, output = args.database, "scale"
    if args.smoke:
        sizes, name, output = list(SMOKE_SIZES), f"{args.database}_smoke", "scale-smoke"
        args.requests, args.warmup = min(args.requests, 10), min(args.warmup, 2)
    if not args.measure_only:
        build(name, sizes, keep=args.keep or args.measure_only)
    built = state(name) or {}
    log(f"{name}: {database_size(name) / 2**30:.2f} GiB, {json.dumps(built)}")
    if args.build_only:
        return

    path = RESULTS / f"{output}.json"
    report = json.loads(path.read_text()) if path.exists() else {"sizes": {}}
    if not args.keep and not args.measure_only:
        report["sizes"] = {}
    for size in sizes:
        report["sizes"][str(size)] = measure(name, size, args.requests, args.warmup)
        report["sizes"][str(size)]["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    report.update(
        {
            "about": (
                "sequential requests through gunicorn (2 sync workers), each page alternately "
                "with the bare view; p50/p95 ms per request; queries: statements per request"
            ),
            "machine": (
                f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
            ),
            "database": name,
            "build": built.get("steps", {}),
        }
    )
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    text = table(report)
    (RESULTS / f"{output}.md").write_text(text)
    if not args.smoke:
        PLOT.write_text(svg(report))
    print(text)


if __name__ == "__main__":
    main()
