"""Where the staff queue's time goes (issue 15): CPU a request, the SQL and its plans, the floor.

    .venv/bin/python benchmarks/profile_queue.py --var /tmp/queue-var            # SQLite
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ph_x \
        .venv/bin/python benchmarks/profile_queue.py                             # PostgreSQL
    ... [--open 100000] [--requests 10] [--rounds 5] [--explain] [--profile queue]

Builds the queue's cases as ``make bench`` does (benchmarks/application_queue.py, reused when
already there) in the database the environment names (DATABASE_URL, else a SQLite file in --var,
or a new temporary folder), then, in one process with Django's test client signed in as the
queue's reader (a member of the Service staff group):

- **CPU a request** (``time.process_time``) and wall time, in alternating batches with the bare
  view (/bench/bare/), for the bare view, the back office's floor (an empty Wagtail admin page,
  /cms-admin/bench-empty/, and Wagtail's admin home), and the queue's four pages (default,
  overdue, search by name, search by reference). The ratio is bare / page, as run.py's. On
  PostgreSQL the server's time is not this process's CPU: the wall time and the SQL time show it.
- **The SQL** of each page once, every statement timed as the client waits for it; with
  ``--explain`` each statement that reads cases, with its plan (``EXPLAIN (ANALYZE, BUFFERS)`` on
  PostgreSQL, ``EXPLAIN QUERY PLAN`` on SQLite).
- with ``--profile PAGE``: cProfile of that page, the top functions by cumulative time.

Prints JSON (and the plans and profile as text before it).
"""

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLOOR = {"admin_empty": "/cms-admin/bench-empty/", "admin_home": "/cms-admin/"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=100_000, help="open cases to build")
    parser.add_argument("--requests", type=int, default=10, help="requests a batch")
    parser.add_argument("--rounds", type=int, default=5, help="batches a page (median)")
    parser.add_argument("--var", help="SQLite: a folder for the database, kept between runs")
    parser.add_argument("--explain", action="store_true", help="print the plans of the SQL")
    parser.add_argument("--profile", help="cProfile this page (queue, queue_overdue, ...)")
    parser.add_argument("--only", help="comma-separated pages to time (default: all)")
    args = parser.parse_args()
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    if not os.environ.get("DATABASE_URL"):
        var = Path(args.var or tempfile.mkdtemp(prefix="powerhall-queue-"))
        var.mkdir(parents=True, exist_ok=True)
        os.environ["POWERHALL_VAR_DIR"] = str(var)

    import django

    django.setup()
    from django.core.management import call_command

    from benchmarks.application_queue import build, session_and_pages

    with contextlib.redirect_stdout(io.StringIO()):
        call_command("migrate", "--no-input", verbosity=0)
    built = build(open_cases=args.open)
    setup = session_and_pages()
    pages = dict(FLOOR) | setup["pages"]
    if args.only:
        pages = {name: pages[name] for name in args.only.split(",")}
    from django.db import connection

    result = {
        "database": connection.vendor,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "cases": setup["cases"],
        "open_cases": setup["open_cases"],
        "overdue_cases": setup["overdue_cases"],
        "build": built,
    }
    client = _client()
    result["sql"] = {
        name: sql_of(client, path, explain=args.explain) for name, path in pages.items()
    }
    if args.profile:
        profile(client, pages[args.profile])
    result["cpu"] = measure(client, pages, args.requests, args.rounds)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2, ensure_ascii=False))


def _client():
    from django.test import Client

    from benchmarks.application_queue import READER
    from portal.models import User

    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(User.objects.get(email=READER))
    return client


def _get(client, path):
    response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code}")
    return response


def measure(client, pages: dict, requests: int, rounds: int) -> dict:
    from django.test import Client

    bare = Client()

    def batch(c, path) -> tuple[float, float]:
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(requests):
            _get(c, path)
        return (
            (time.process_time() - cpu) / requests,
            (time.perf_counter() - wall) / requests,
        )

    results = {}
    for name, path in pages.items():
        for _ in range(3):  # warm: templates, URL resolver, the database's cache
            _get(client, path)
            _get(bare, "/bench/bare/")
        page_cpu, page_wall, bare_cpu, bare_wall = [], [], [], []
        for _ in range(rounds):
            cpu, wall = batch(bare, "/bench/bare/")
            bare_cpu.append(cpu)
            bare_wall.append(wall)
            cpu, wall = batch(client, path)
            page_cpu.append(cpu)
            page_wall.append(wall)
        page, ref = statistics.median(page_cpu), statistics.median(bare_cpu)
        wall, ref_wall = statistics.median(page_wall), statistics.median(bare_wall)
        results[name] = {
            "cpu_ms": round(page * 1000, 2),
            "wall_ms": round(wall * 1000, 2),
            "bare_cpu_ms": round(ref * 1000, 3),
            "ratio_cpu": round(ref / page, 4),
            "ratio_wall": round(ref_wall / wall, 4),
        }
        print(name, results[name], file=sys.stderr)
    return results


def sql_of(client, path: str, *, explain: bool) -> dict:
    """Every statement of one request of ``path``, timed; with ``explain``, the plans of those
    that read cases."""
    from django.db import connection

    statements = []

    def wrapper(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append((sql, params, (time.perf_counter() - start) * 1000))

    _get(client, path)  # warm
    with connection.execute_wrapper(wrapper):
        _get(client, path)
    total = sum(ms for _, _, ms in statements)
    print(f"\n=== {path}: {len(statements)} statements, {total:.1f} ms", file=sys.stderr)
    out = []
    for sql, params, ms in statements:
        out.append({"ms": round(ms, 2), "sql": sql[:300]})
        if not explain or "applications_case" not in sql or not sql.startswith("SELECT"):
            continue
        print(f"\n--- {ms:.1f} ms: {sql[:700]}\n    params {params!r:.300}", file=sys.stderr)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
            else:
                cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            for row in cursor.fetchall():
                print("    " + " | ".join(str(v) for v in row), file=sys.stderr)
    return {"statements": len(statements), "ms": round(total, 1), "each": out}


def profile(client, path: str) -> None:
    for _ in range(3):
        _get(client, path)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(10):
        _get(client, path)
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(30)
    print(f"\n=== cProfile of {path}, 10 requests\n{stream.getvalue()}", file=sys.stderr)


if __name__ == "__main__":
    main()
