"""CPU time and statements of one webhook delivery, in one process (issue 15).

    BENCH_WEBHOOKS_DB=ph_hooks_prof DATABASE_URL=postgres://postgres@127.0.0.1:5432/ph_hooks \\
        .venv/bin/python benchmarks/profile_webhooks.py [--events 600] [--profile 40]

benchmarks/webhooks.py measures events a second through gunicorn, which on a machine shared with
other work moves with the load average. This measures what a delivery costs the process that
handles it: a fresh PostgreSQL database made as webhooks.py makes it (the same set-up script:
one customer, bill and begun Stripe payment per event, a bill in two overdue, an account in
twenty suspended), then every ``payment_intent.succeeded`` delivered once, signed, through the
portal's WSGI application (the whole middleware stack, as gunicorn calls it) in this process,
with ``time.process_time()`` around each and the statements counted. Then a bare view
(/bench/bare/) in the same process for the ratio, and, with ``--profile N``, N more deliveries
under cProfile (the functions with the largest cumulative time).

Reported: CPU ms per delivery (median and mean), statements per delivery (median), and the
same for a repeat of an event already handled. Tasks go to the database queue as in production
(``TASKS_BACKEND=database``), and are not run.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.import_accounts import bench_database, manage, run_driver  # noqa: E402
from benchmarks.webhooks import SETUP, _with_args, bench_env  # noqa: E402

BENCH_DB = os.environ.get("BENCH_WEBHOOKS_DB", "ph_bench_webhooks_profile")

MEASURE = """
import cProfile, io, json, os, pstats, statistics, sys, time
import django
django.setup()
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from payments.gateways import signature_header

profile_count = int(sys.argv[2])
with open(sys.argv[1], "rb") as lines:
    events = [line.rstrip(b"\\n") for line in lines]
application = WSGIHandler()
statements = [0]


def count(execute, sql, params, many, context):
    statements[0] += 1
    return execute(sql, params, many, context)


def call(method, path, body=b""):
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_USER_AGENT": "Stripe/1.0",
    }
    if body:
        environ["HTTP_STRIPE_SIGNATURE"] = signature_header(
            body, secret=settings.STRIPE_WEBHOOK_SECRET
        )
    status = []
    result = application(environ, lambda s, headers, exc_info=None: status.append((s, headers)))
    b"".join(result)
    if hasattr(result, "close"):
        result.close()
    return status[0]


def measure(items, method="POST"):
    cpu, counts = [], []
    for path, body in items:
        statements[0] = 0
        started = time.process_time()
        with connection.execute_wrapper(count):
            status, headers = call(method, path, body)
        cpu.append((time.process_time() - started) * 1000)
        counts.append(statements[0])
        assert status.startswith("200"), (status, path)
    return cpu, counts, headers


warm, rest = events[:20], events[20:]
profiled, timed = rest[:profile_count], rest[profile_count:]
measure([("/pay/webhooks/stripe/", body) for body in warm])
cpu, counts, headers = measure([("/pay/webhooks/stripe/", body) for body in timed])
repeat_cpu, repeat_counts, _ = measure([("/pay/webhooks/stripe/", body) for body in timed[:200]])
bare_cpu, _bare_counts, _ = measure([("/bench/bare/", b"")] * 300, method="GET")
top = ""
if profiled:
    profiler = cProfile.Profile(time.process_time)  # CPU, not waiting for the server
    profiler.enable()
    measure([("/pay/webhooks/stripe/", body) for body in profiled])
    profiler.disable()
    if os.environ.get("PROFILE_OUT"):
        profiler.dump_stats(os.environ["PROFILE_OUT"])
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(90)
    top = out.getvalue()
print(top, file=sys.stderr)
print(json.dumps({
    "deliveries": len(timed),
    "cpu_ms_median": round(statistics.median(cpu), 2),
    "cpu_ms_mean": round(statistics.mean(cpu), 2),
    "statements_median": statistics.median(counts),
    "statements_max": max(counts),
    "repeat_cpu_ms_median": round(statistics.median(repeat_cpu), 2),
    "repeat_statements_median": statistics.median(repeat_counts),
    "bare_cpu_ms_median": round(statistics.median(bare_cpu), 3),
    "response_headers": sorted(name for name, _value in headers),
}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=600, help="payments set up and delivered")
    parser.add_argument("--profile", type=int, default=0, help="deliveries under cProfile")
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="powerhall-profile-webhooks-"))
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("DATABASE_URL must name a PostgreSQL database (the server to use)")
    _engine, bench_url, cleanup = bench_database(var, BENCH_DB)
    env = bench_env(var, bench_url)
    try:
        manage("migrate", "--no-input", "-v", "0", env=env)
        stream = var / "events.jsonl"
        run_driver(_with_args(SETUP, args.events), stream, env)
        profile_env = {**env, "DJANGO_SETTINGS_MODULE": "benchmarks.settings"}
        result = _run(_with_args(MEASURE, args.profile), stream, profile_env)
    finally:
        cleanup()
        shutil.rmtree(var, ignore_errors=True)
    result["load_average"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=2))


def _run(driver: str, path: Path, env: dict) -> dict:
    """``run_driver`` with the benchmark settings (it sets portal.settings) and the profile's
    text passed through on stderr."""
    import subprocess

    done = subprocess.run(  # noqa: S603 - our own script
        [str(ROOT / ".venv/bin/python"), "-c", driver, str(path)],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"The measurement failed:\n{done.stderr[-5000:]}")
    sys.stderr.write(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
