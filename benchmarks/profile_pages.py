"""Where a signed-in page's time goes: each middleware, the view's SQL, template rendering,
translation, the session and the user lookups (issue 15, docs/performance.md).

    .venv/bin/python benchmarks/profile_pages.py [--requests 300] [--sessions cached_db]
        [--only usage pay]

Runs in one process with Django's test client against a fresh demo database (migrate and
seed_demo in a temporary folder, as `make bench` does; the environment's DATABASE_URL and
REDIS_URL choose the engines). A timing mark sits between every two middlewares, so each one's
own time (on the way in and on the way out) is measured apart from the layers inside it; the
innermost share is the view with URL resolution and the middlewares' process_view hooks. Inside
it, the SQL statements are timed by an execute wrapper, and cProfile gives the cumulative time of
template rendering, translation lookups, session load and save, and the user lookups. Figures are
microseconds of wall time per request (medians of layer times are noisy on a busy machine: read
the shares, and compare runs made on the same machine at the same time).
"""

import argparse
import cProfile
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Middleware marks: mark_<i> notes when a request passes it on the way in and out.
_events: list[tuple[str, int, float]] = []
_MARKS = 40


def _mark(i):
    def factory(get_response):
        def middleware(request):
            _events.append(("in", i, time.perf_counter()))
            response = get_response(request)
            _events.append(("out", i, time.perf_counter()))
            return response

        return middleware

    return factory


for _i in range(_MARKS):
    globals()[f"mark_{_i}"] = _mark(_i)

# What cProfile's cumulative time is read for (function name as pstats keys it: file, line, name).
PARTS = {
    "template rendering": ("django/template/backends/django.py", "render"),
    "translation (gettext)": ("django/utils/translation/trans_real.py", "gettext"),
    "session load": ("django/contrib/sessions/backends/", "load"),
    "session save": ("django/contrib/sessions/backends/", "save"),
    "request.user (auth get_user)": ("django/contrib/auth/__init__.py", "get_user"),
    "allauth user sessions": ("allauth/usersessions/models.py", "create_from_request"),
    "messages": ("django/contrib/messages/storage/", "update"),
    "CSP header": ("django/middleware/csp.py", "process_response"),
    "URL resolution": ("django/urls/resolvers.py", "resolve"),
}


def _prepare(var: Path) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "POWERHALL_VAR_DIR": str(var),
    }
    for args in (["migrate", "--no-input", "-v", "0"], ["seed_demo"]):
        subprocess.run(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
    return env


RESIDENT = "resident@demo.powerhall.cn"
ORG_MEMBER = "member@demo.powerhall.cn"


def _pages() -> dict[str, tuple[str, str]]:
    """label: (who asks, path). The demo resident's pages, and the demo organisation's accounts
    table as its member (the demo's organisation has a dozen accounts: benchmarks/run.py and
    benchmarks/org_dashboard.py measure the table with a thousand)."""
    from payments.models import Bill
    from portal.models import Binding, Membership

    binding = Binding.objects.get(user__email=RESIDENT, label="家")
    bill = Bill.objects.filter(account=binding.account, status="open").order_by("due_date").first()
    org = Membership.objects.get(user__email=ORG_MEMBER).organisation
    return {
        "/me/": (RESIDENT, "/me/"),
        "bill list": (RESIDENT, "/me/bills/"),
        "bill page (penalty)": (RESIDENT, f"/bills/{bill.uuid}/"),
        "usage": (RESIDENT, f"/me/accounts/{binding.uuid}/usage/"),
        "pay page": (RESIDENT, "/pay/"),
        "business accounts table": (ORG_MEMBER, f"/org/{org.uuid}/"),
    }


def profile(requests: int, sessions: str | None, only: list[str] | None = None) -> dict:
    import django
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings

    django.setup()
    # The marks are imported by their dotted path, as a module apart from this script's __main__.
    from benchmarks.profile_pages import _events

    stack = list(settings.MIDDLEWARE)
    n = len(stack)
    layers = ["(outside)", *stack, "view (+process_view, URL resolution)"]
    middleware = []
    for i, name in enumerate(stack):
        middleware += [f"benchmarks.profile_pages.mark_{i}", name]
    middleware.append(f"benchmarks.profile_pages.mark_{n}")
    overrides = {"MIDDLEWARE": middleware, "DEBUG": False}
    if sessions:
        overrides["SESSION_ENGINE"] = f"django.contrib.sessions.backends.{sessions}"
    from portal.models import User

    results = {}
    with override_settings(**overrides):
        clients = {}
        for label, (email, path) in _pages().items():
            if only and not any(word in label for word in only):
                continue
            if email not in clients:
                clients[email] = Client()
                clients[email].force_login(User.objects.get(email=email))
            client = clients[email]
            for _ in range(20):  # warm: templates compiled, caches filled
                assert client.get(path).status_code == 200, path
            sql = {"n": 0, "s": 0.0}

            def timed(execute, sql_text, params, many, context, sql=sql):
                started = time.perf_counter()
                try:
                    return execute(sql_text, params, many, context)
                finally:
                    sql["n"] += 1
                    sql["s"] += time.perf_counter() - started

            own = defaultdict(float)
            total = 0.0
            with connection.execute_wrapper(timed):
                for _ in range(requests):
                    _events.clear()
                    started = time.perf_counter()
                    client.get(path)
                    total += time.perf_counter() - started
                    at = {(kind, i): t for kind, i, t in _events}
                    for k in range(n):
                        inward = at[("in", k + 1)] - at[("in", k)]
                        outward = at[("out", k)] - at[("out", k + 1)]
                        own[layers[k + 1]] += inward + outward
                    own[layers[-1]] += at[("out", n)] - at[("in", n)]
                    own[layers[0]] += (time.perf_counter() - started) - (
                        at[("out", 0)] - at[("in", 0)]
                    )
            # A second pass under cProfile for the parts that cross layers (it slows every
            # Python call, so its figures are larger than the first pass's: read them as shares).
            profiler = cProfile.Profile()
            profiled_started = time.perf_counter()
            for _ in range(requests):
                profiler.enable()
                client.get(path)
                profiler.disable()
            profiled = time.perf_counter() - profiled_started
            stats = pstats.Stats(profiler)
            parts = defaultdict(float)
            for (file, _line, name), row in stats.stats.items():
                for part, (where, function) in PARTS.items():
                    if where in file and name == function:
                        parts[part] = max(parts[part], row[3])  # cumulative, outermost
            per = 1e6 / requests
            results[label] = {
                "per_request_us": round(total * per),
                "per_request_us_under_cprofile": round(profiled * per),
                "layers_us": {k: round(v * per) for k, v in own.items()},
                "sql": {"statements": sql["n"] / requests, "us": round(sql["s"] * per)},
                "parts_us_cumulative": {k: round(v * per) for k, v in parts.items()},
            }
    return results


def _print(results: dict) -> None:
    for label, r in results.items():
        print(f"\n## {label}: {r['per_request_us']} µs a request")
        print(f"SQL: {r['sql']['statements']:.1f} statements, {r['sql']['us']} µs")
        for name, us in sorted(r["layers_us"].items(), key=lambda kv: -kv[1]):
            print(f"  {us:>7} µs  {name}")
        print(f"  under cProfile ({r['per_request_us_under_cprofile']} µs a request), cumulative:")
        for name, us in sorted(r["parts_us_cumulative"].items(), key=lambda kv: -kv[1]):
            print(f"  {us:>7} µs  {name}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument(
        "--sessions", choices=["db", "cache", "cached_db", "signed_cookies"], default=None
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--only", nargs="+", help="pages whose label holds one of these words (bill, pay…)"
    )
    parser.add_argument("--var", help="an existing demo folder to reuse (POWERHALL_VAR_DIR)")
    args = parser.parse_args()
    var = Path(args.var) if args.var else Path(tempfile.mkdtemp(prefix="powerhall-profile-"))
    try:
        if not args.var:
            os.environ.update(_prepare(var))
        else:
            os.environ.update(
                DJANGO_SETTINGS_MODULE="benchmarks.settings", POWERHALL_VAR_DIR=str(var)
            )
        results = profile(args.requests, args.sessions, args.only)
    finally:
        if not args.var:
            shutil.rmtree(var, ignore_errors=True)
    if args.json:
        import json

        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        _print(results)


if __name__ == "__main__":
    main()
