"""Where a bill import's time goes on PostgreSQL: per statement, the commit, and the server's own
time per table and per foreign-key check.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/profile_import.py --bills 24000
    ... --explain     # also the server's plan of each slow statement, constraints checked at once

It builds a database as benchmarks/import_bills.py does (named ``--database``, dropped after),
then imports the file of new bills in this process once, timing every statement Django sends
(an execute wrapper: what the client waits for, so the server's time plus a round trip) and the
commit, which on PostgreSQL runs the deferred foreign-key checks. What is left of the run's time
is Python: reading, checking and sorting rows. With ``--explain`` the session loads
``auto_explain`` (plans with actual times, at NOTICE level so they reach this process) and checks
the constraints at the end of each statement (``SET CONSTRAINTS ALL IMMEDIATE``), so the plan of
the insert shows each table's insert and each foreign-key trigger's time; the timing makes the
statements slower, so read those as shares. Not part of any test run.
"""

import argparse
import collections
import io
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.import_accounts import bench_database  # noqa: E402
from benchmarks.import_bills import accounts_ready, generate  # noqa: E402

_PLAN_LINES = re.compile(r"duration:|Insert on|Trigger for constraint")


def profile(bills: int, *, database: str, explain: bool) -> None:
    var = Path(tempfile.mkdtemp(prefix="powerhall-profile-import-"))
    engine, url, cleanup = bench_database(var, database)
    if engine != "postgresql":
        raise SystemExit("DATABASE_URL must name a PostgreSQL server")
    env = {**os.environ, "POWERHALL_VAR_DIR": str(var), "DATABASE_URL": url}
    try:
        accounts_ready(var, env, bills)
        path = var / "bills.csv"
        generate(path, bills, fmt="csv")
        os.environ.update(POWERHALL_VAR_DIR=str(var), DATABASE_URL=url)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
        _import_timed(path, bills, explain=explain)
    finally:
        from django.db import connection

        connection.close()
        cleanup()
        shutil.rmtree(var, ignore_errors=True)


def _import_timed(path: Path, bills: int, *, explain: bool) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections
    from django.utils import translation

    import portal.core.interchange as interchange

    statements: dict[str, list] = collections.defaultdict(lambda: [0, 0.0])

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            key = " ".join(sql.split())[:80]
            statements[key][0] += 1
            statements[key][1] += time.perf_counter() - started

    connection.ensure_connection()
    notices: list[str] = []
    connection.connection.add_notice_handler(lambda d: notices.append(d.message_primary))
    if explain:
        with connection.cursor() as cursor:
            for setting in (
                "LOAD 'auto_explain'",
                "SET auto_explain.log_min_duration = 20",
                "SET auto_explain.log_analyze = on",
                "SET auto_explain.log_triggers = on",
                "SET auto_explain.log_level = notice",
            ):
                cursor.execute(setting)
        lock = interchange.import_lock

        def lock_then_immediate(name):
            lock(name)
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

        interchange.import_lock = lock_then_immediate
    database = type(connections["default"])
    commit = database._commit

    def timed_commit(self):
        started = time.perf_counter()
        try:
            return commit(self)
        finally:
            statements["COMMIT (deferred foreign-key checks)"][0] += 1
            statements["COMMIT (deferred foreign-key checks)"][1] += time.perf_counter() - started

    database._commit = timed_commit
    translation.activate("en")
    started = time.perf_counter()
    with connection.execute_wrapper(timed):
        call_command("import_bills", str(path), stdout=io.StringIO())
    total = time.perf_counter() - started
    in_sql = sum(seconds for _count, seconds in statements.values())
    print(f"{bills} new bills in {total:.2f} s: {bills / total:,.0f} bills/s")
    print(f"{'seconds':>8} {'µs/bill':>8} {'count':>6}  statement")
    for key, (count, seconds) in sorted(statements.items(), key=lambda item: -item[1][1])[:12]:
        print(f"{seconds:8.3f} {seconds / bills * 1e6:8.1f} {count:6d}  {key}")
    rest = total - in_sql
    print(f"{rest:8.3f} {rest / bills * 1e6:8.1f} {'':6}  the rest: Python, and the COPY")
    for notice in notices:
        if notice.startswith("duration:"):
            print("\n".join(line for line in notice.splitlines() if _PLAN_LINES.search(line)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bills", type=int, default=24_000)
    parser.add_argument("--database", default="profile_bills")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    profile(args.bills, database=args.database, explain=args.explain)


if __name__ == "__main__":
    main()
