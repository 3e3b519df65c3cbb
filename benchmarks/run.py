"""`make bench`: serve the portal with gunicorn (2 sync workers) and load it with wrk.

Every page's speed is reported as a ratio to a bare Django template view measured in the same run,
because the load generator shares the machine's cores and absolute figures move from run to run.
The pages are the public ones, the demo resident's, and the staff's application queue with
100,000 open cases (benchmarks/application_queue.py builds them in the same database first; the
default queue, the overdue filter, a search by name and one by reference, signed in as a member
of the Service staff group; and, as the floor of any back-office page, an empty Wagtail admin
page as the same person). Then the webhook benchmark (benchmarks/webhooks.py: payment events
per second on PostgreSQL, with repeats; its own database and server), and the receipt benchmark
(benchmarks/receipts.py: median render time and size of receipt PDFs, in-process). Writes
benchmarks/results/latest.json and the same as a table, latest.md (printed too).

    .venv/bin/python benchmarks/run.py                 # everything (make bench)
    .venv/bin/python benchmarks/run.py --smoke         # everything, tiny (CI): smoke.json
                                                       # (every page asked, seven timed)
    .venv/bin/python benchmarks/run.py --only queue    # the bare view and the queue: queue.json
    .venv/bin/python benchmarks/run.py --only cms      # the bare view and public pages: cms.json
    .venv/bin/python benchmarks/run.py --only import   # the bill import alone (import_bills.py)
    .venv/bin/python benchmarks/run.py --only pages    # the bare view and the signed-in pages
    .venv/bin/python benchmarks/scale.py               # pages at 1 k, 100 k, 1 M accounts (make
                                                       # bench-scale; PostgreSQL; not in this run)

"--only pages" measures the demo resident's pages (/me/, the bill list, the oldest overdue bill
with its penalty, the usage chart, the pay page) and the business accounts table of an
organisation with 1,000 accounts (first page of 50, as a member who sees half of them), written
to benchmarks/results/pages.json. On a busy machine wrk's ratios move by half from run to run;
benchmarks/pages_cpu.py measures the same pages' CPU time a request in one process, which holds
still under load.

The public pages (home, notice index, a notice) are measured twice: as anonymous visitors get them,
from the anonymous page cache (cms/page_cache.py), and with a query string the cache does not
know, which sends the same request through Wagtail's page serving as if there were no cache.

Sizes can be set one by one: BENCH_DURATION (per page, wrk's form: 8s), BENCH_QUEUE_CASES,
BENCH_WEBHOOK_EVENTS, BENCH_RECEIPT_RENDERS, BENCH_CONNECTIONS, BENCH_IMPORT_BILLS (--only
import: 200000). A run fails (exit status 1) when a page answered an error or timed out, or a
webhook or receipt check found a problem.

The database is the one the environment names, as for the portal: DATABASE_URL (PostgreSQL), else
a SQLite file in a new temporary folder. With POWERHALL_ENV=production (and the variables it
requires, docs/configuration.md; SECURE_SSL_REDIRECT=false, as wrk speaks plain HTTP) the portal
runs on its production settings: the pages only, written to benchmarks/results/production.json
(the webhook and receipt benchmarks run on their own settings and are left to the default run).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from benchmarks.import_bills import bench as import_bills_bench  # noqa: E402
from benchmarks.receipts import bench as receipts_bench  # noqa: E402
from benchmarks.serving import gunicorn_start  # noqa: E402
from benchmarks.webhooks import bench as webhooks_bench  # noqa: E402
from tests.db_snapshot import SQLITE_DIR  # noqa: E402
from tests.db_snapshot import key as snapshot_key  # noqa: E402

PYTHON = sys.executable
# The full run's sizes; --smoke (CI) runs every part at a size that only proves it still works.
FULL = {
    "duration": "8s",
    "queue_cases": "100000",
    "webhook_events": "3000",
    "receipt_renders": "30",
}
SMOKE = {"duration": "1s", "queue_cases": "500", "webhook_events": "100", "receipt_renders": "2"}
# The smoke run asks every page once (each must answer 200) but times one page of each kind with
# wrk: a second of wrk keeps both cores busy, and CI runs it beside the prod-local smoke test.
SMOKE_TIMED = {
    "bare_view",
    "home_cached",
    "home_uncached",
    "my_account_signed_in",
    "bill_overdue_signed_in",
    "business_table_1000_signed_in",
    "staff_queue",
}
TIMED: set[str] = set()  # the pages wrk times in this run; empty: every page
SIZES = dict(FULL)
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "16")
PRODUCTION = os.environ.get("POWERHALL_ENV", "").strip().lower() == "production"


def size(name: str) -> str:
    """A size of this run: BENCH_<NAME> from the environment, else the full or smoke default."""
    return os.environ.get(f"BENCH_{name.upper()}", SIZES[name])


def manage(*args, env):
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


def session_cookie_name(env) -> str:
    """The cookie the server reads the session from (production's is __Host-sessionid)."""
    code = "from django.conf import settings; print(settings.SESSION_COOKIE_NAME)"
    out = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def session_cookie(env) -> str:
    """A signed-in session for the demo resident, made through Django's own login."""
    code = (
        "import django; django.setup();"
        "from django.test import Client; from portal.models import User;"
        "c = Client(); c.force_login(User.objects.get(email='resident@demo.powerhall.cn'));"
        "print(c.cookies['sessionid'].value)"
    )
    out = subprocess.run(
        [PYTHON, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


def bill_paths(env) -> dict[str, str]:
    """The resident's pages that compute what is owed: the bill list, the oldest unpaid bill
    (penalty day by day) and the usage chart of the home account."""
    code = (
        "import django; django.setup();"
        "from payments.models import Bill; from portal.models import Binding;"
        "b = Binding.objects.get(user__email='resident@demo.powerhall.cn', label='家');"
        "bill = Bill.objects.filter(account=b.account, status='open').order_by('due_date').first();"
        "print(f'/bills/{bill.uuid}/ /me/accounts/{b.uuid}/usage/')"
    )
    out = subprocess.run(
        [PYTHON, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    bill, usage = out.stdout.strip().splitlines()[-1].split()
    return {"bill_list": "/me/bills/", "bill_overdue": bill, "usage": usage, "pay": "/pay/"}


def business_table(env, accounts: int = 1000) -> tuple[str, str]:
    """An organisation with ``accounts`` bound accounts (benchmarks/org_dashboard.py builds it),
    and its member who sees half of them: (session cookie, the accounts table's first page)."""
    code = (
        "import django; django.setup();"
        "from django.test import Client; from django.urls import reverse;"
        "from benchmarks.org_dashboard import _seed;"
        f"org, admin, member = _seed({accounts});"
        "c = Client(); c.force_login(member.user);"
        "print(c.cookies['sessionid'].value, reverse('org:accounts', kwargs={'org': org.uuid}))"
    )
    out = subprocess.run(
        [PYTHON, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    cookie, path = out.stdout.strip().splitlines()[-1].split()
    return cookie, path


def public_pages(env) -> dict[str, tuple[str, list[str]]]:
    """The public pages anonymous visitors read most, cached and not (the module docstring)."""
    code = (
        "import django; django.setup();"
        "from cms.models import NoticePage;"
        "n = NoticePage.objects.live().filter(locale__language_code='zh-hans')"
        ".order_by('pk').first();"
        "print(n.url)"
    )
    out = subprocess.run(  # noqa: S603 - our own code
        [PYTHON, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    notice = out.stdout.strip().splitlines()[-1]
    pages = {}
    for name, path in (("home", "/"), ("notice_index", "/notices/"), ("notice", notice)):
        pages[f"{name}_cached"] = (path, [])
        pages[f"{name}_uncached"] = (f"{path}?uncached=1", [])
    return pages


def application_queue(env) -> dict:
    """The staff queue's open cases and its reader, built in the benchmark's database
    (benchmarks/application_queue.py): counts, the reader's session cookie, the URLs."""
    out = subprocess.run(  # noqa: S603 - our own script and arguments
        [PYTHON, "benchmarks/application_queue.py", "--open", size("queue_cases")],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def answers_ok(url: str, headers: list[str]) -> None:
    """One request as wrk will send it must answer 200: a page that redirects (to the login, say)
    would otherwise be measured as a very fast page."""
    cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url]
    for header in headers:
        cmd += ["-H", header]
    status = subprocess.run(cmd, check=False, capture_output=True, text=True).stdout  # noqa: S603
    if status != "200":
        raise SystemExit(f"{url} answered {status or 'nothing'}, not 200")


def wrk(url: str, headers: list[str]) -> dict:
    # wrk gives up on a request after 2 s by default and does not count it: a page that slow
    # under 16 connections (the queue with 100,000 open cases) would look faster than it is.
    cmd = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{size('duration')}", "--timeout", "30s"]
    cmd += ["--latency", url]
    for header in headers:
        cmd += ["-H", header]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    timeouts = re.search(r"timeout (\d+)", out)
    return {
        "requests_per_s": rps,
        "p99_ms": round(float(p99.group(1)) * scale, 1),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "timeouts": int(timeouts.group(1)) if timeouts else 0,
    }


# --only: the bare view and one group of pages (a new group: an entry here and its pages in run()).
ONLY = {
    "queue": "the staff queue with its open cases",
    "cms": "the public pages, from the anonymous page cache and not",
    "pages": "the resident's signed-in pages and the business accounts table (1,000 accounts)",
    "import": "no pages: the bill import alone (benchmarks/import_bills.py, BENCH_IMPORT_BILLS "
    "bills, its own results file)",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=list(ONLY),
        help="only the bare view and one group of pages, written to benchmarks/results/<it>.json: "
        + "; ".join(f"{name}: {what}" for name, what in ONLY.items()),
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every part at a tiny size (CI: proves the benchmarks still run), written to "
        "benchmarks/results/smoke.json; figures from it mean nothing",
    )
    args = parser.parse_args()
    if args.only == "import":
        report = import_bills_bench([int(os.environ.get("BENCH_IMPORT_BILLS", "200000"))])
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    if args.smoke:
        SIZES.update(SMOKE)
        TIMED.update(SMOKE_TIMED)
    var = Path(tempfile.mkdtemp(prefix="powerhall-bench-"))
    try:
        default = "production" if PRODUCTION else "latest"
        run(var, only=args.only, output="smoke" if args.smoke else args.only or default)
    finally:  # its SQLite database holds the queue's 133,000 cases by now (about 75 MB)
        shutil.rmtree(var, ignore_errors=True)


def run(var: Path, *, only: str | None, output: str) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "POWERHALL_VAR_DIR": str(var),
    }
    # The data is made on the development settings against the same database (seed_demo refuses
    # production settings: its users have published passwords); only the server runs on the
    # settings asked for.
    setup = {name: value for name, value in env.items() if name != "POWERHALL_ENV"}
    kept = SQLITE_DIR / f"{snapshot_key()}.sqlite3"
    if not env.get("DATABASE_URL") and kept.exists():
        # The migrated database the test suite kept for this code (tests/db_snapshot.py): the
        # migrate below then finds nothing left to do.
        shutil.copyfile(kept, var / "powerhall.sqlite3")
    manage("migrate", "--no-input", "-v", "0", env=setup)
    if PRODUCTION:
        # Production settings serve static files by the manifest collectstatic writes (into the
        # temporary folder): without it every page that links one answers 500.
        manage("collectstatic", "--no-input", "-v", "0", env=env)
    pages = {"bare_view": ("/bench/bare/", [])}
    if only in (None, "cms", "pages"):
        manage("seed_demo", env=setup)
    if only in (None, "cms"):
        pages |= public_pages(setup)
    if not only:
        pages["login_page"] = ("/accounts/login/", [])
    sessionid = session_cookie_name(env)
    if only in (None, "pages"):
        signed_in = [f"Cookie: {sessionid}={session_cookie(setup)}"]
        pages |= {
            "my_account_signed_in": ("/me/", signed_in),
            **{f"{name}_signed_in": (path, signed_in) for name, path in bill_paths(setup).items()},
        }
        cookie, path = business_table(setup)
        pages["business_table_1000_signed_in"] = (path, [f"Cookie: {sessionid}={cookie}"])
    queue = {}
    if only in (None, "queue"):
        queue = application_queue(setup)
        staff = [f"Cookie: {sessionid}={queue.pop('cookie')}"]
        # The floor of any back-office page: Wagtail's admin shell around nothing
        # (benchmarks/urls.py), as the same member of staff.
        pages["staff_admin_floor"] = ("/cms-admin/bench-empty/", staff)
        pages |= {f"staff_{name}": (path, staff) for name, path in queue.pop("pages").items()}
    server, port = gunicorn_start(env)
    try:
        base = f"http://127.0.0.1:{port}"
        results = {}
        for name, (path, headers) in pages.items():
            answers_ok(base + path, headers)
            if not TIMED or name in TIMED:
                results[name] = wrk(base + path, headers)
        bare = results["bare_view"]["requests_per_s"]
        for result in results.values():
            result["ratio_to_bare"] = round(result["requests_per_s"] / bare, 3)
    finally:
        server.terminate()
        server.wait(timeout=30)
    report = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "database": "postgresql" if "postgres" in os.environ.get("DATABASE_URL", "") else "sqlite",
        "settings": "production" if PRODUCTION else "development",
        "server": "gunicorn, 2 sync workers",
        "load": f"wrk, 2 threads, {CONNECTIONS} connections, {size('duration')} per page",
        "load_average": os.getloadavg(),
        "application_queue": queue,
        "pages": results,
        "pages_asked_not_timed": [name for name in pages if name not in results],
    }
    if not only and PRODUCTION:
        # The webhook and receipt benchmarks make their own databases and processes on the
        # development settings (what they measure does not change with them); the default run
        # has their figures.
        report["webhooks"] = {"skipped": "a production run measures the pages", "problems": []}
    elif not only:
        # After the pages' server has stopped, so the two do not share the cores.
        try:
            report["webhooks"] = webhooks_bench(events=int(size("webhook_events")))
        except psycopg.OperationalError as error:  # no PostgreSQL server for its database
            report["webhooks"] = {"skipped": f"needs PostgreSQL: {error}".strip(), "problems": []}
        report["receipts"] = receipts_bench(renders=int(size("receipt_renders")))
    out = ROOT / f"benchmarks/results/{output}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    out.with_suffix(".md").write_text(table(report))
    print(table(report))
    print(f"Written to {out.relative_to(ROOT)} and {out.with_suffix('.md').relative_to(ROOT)}.")
    problems = [
        f"{part}: {problem}"
        for part in ("webhooks", "receipts")
        for problem in report.get(part, {}).get("problems", [])
    ]
    problems += [
        f"{page}: {r['non_2xx']} answers not 2xx/3xx, {r['timeouts']} timeouts"
        for page, r in results.items()
        if r["non_2xx"] or r["timeouts"]
    ]
    if problems:
        raise SystemExit("benchmark problems: " + "; ".join(problems))


def table(report: dict) -> str:
    """The report as a table a person reads (Markdown)."""
    lines = [
        f"# Benchmarks, {report['measured_at']}",
        "",
        f"{report['database']}, {report['settings']} settings; {report['server']}; "
        f"{report['load']}; load average {', '.join(f'{x:.1f}' for x in report['load_average'])}",
        "",
        "| page | requests/s | ratio to the bare view | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for page, r in report["pages"].items():
        lines.append(
            f"| {page} | {r['requests_per_s']:,.0f} | {r['ratio_to_bare']:.3f} | {r['p99_ms']} |"
        )
    if report.get("pages_asked_not_timed"):
        lines += [
            "",
            "Answered 200, not timed: " + ", ".join(report["pages_asked_not_timed"]) + ".",
        ]
    hooks = report.get("webhooks")
    if hooks and "skipped" in hooks:
        lines += ["", f"Webhooks: skipped ({hooks['skipped']})."]
    elif hooks:
        lines += [
            "",
            f"Webhooks: {hooks.get('events_per_s')} events/s "
            f"(ratio to the bare view {hooks.get('ratio_to_bare')}), "
            f"problems: {', '.join(hooks['problems']) or 'none'}.",
        ]
    receipts = report.get("receipts")
    if receipts:
        lines += ["", "| receipt PDF | median ms | p90 ms | KB |", "|---|---:|---:|---:|"]
        for document, r in receipts.get("documents", {}).items():
            lines.append(f"| {document} | {r['median_ms']} | {r['p90_ms']} | {r['size_kb']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
