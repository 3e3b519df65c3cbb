"""The organisation accounts table at scale, measured in-process with Django's test client.

    .venv/bin/python benchmarks/org_dashboard.py                      # SQLite, 1,000 and 100,000
    .venv/bin/python benchmarks/org_dashboard.py --accounts 1000 --repeat 5
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python \\
        benchmarks/org_dashboard.py --database postgres

Each size runs in a child process against a throw-away database: a temporary SQLite file (under
a temporary POWERHALL_VAR_DIR) or, for PostgreSQL, a database created next to the one
DATABASE_URL names and dropped afterwards. The child migrates, seeds an organisation with N
bound accounts (plus a second organisation with N/10, so the organisation filter has something
to filter out), then times the accounts page (first page, a filtered page, a search, the last
page) and the CSV export, as an administrator (every account) and as a member (view on half).

Every figure is the median of several requests, reported also as a ratio to the bare Django
template view (/bench/bare/), requested alternately with the page in the same process, so load
from elsewhere on the machine weighs on both: ratio_to_bare is bare time / page time, the same
"share of the bare view's throughput" as benchmarks/run.py. The district list is cached
(portal.selectors.org_account_summary); "first_page_uncached" clears the cache before each
request, every other page runs with it warm. "account_page" (one account) is the floor: a
signed-in organisation page with no table.
Queries per request are counted on one extra request. Results are merged into
benchmarks/results/org_dashboard.json under "<database>-<accounts>".
"""

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks/results/org_dashboard.json"
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"

DISTRICTS = [
    "东城区",
    "西城区",
    "朝阳区",
    "海淀区",
    "丰台区",
    "石景山区",
    "门头沟区",
    "房山区",
    "通州区",
    "顺义区",
    "昌平区",
    "大兴区",
    "怀柔区",
    "平谷区",
    "密云区",
    "延庆区",
]
BRANDS = ["星河", "华北", "京能", "远航", "百川", "金桥", "宏达", "恒信", "瑞丰", "天成", "正阳"]
TRADES = ["商贸", "物流", "餐饮", "制造", "物业", "科技", "医药", "冷链", "建材", "文化"]
ROADS = ["建国路", "学院路", "长安街", "望京街", "南苑路", "酒仙桥路", "中关村大街", "复兴路"]
CLASSES = ["lv_business"] * 6 + ["hv_single"] * 2 + ["hv_dual", "residential"]
STATUSES = ["active"] * 8 + ["suspended", "closed"]


# --- Parent: one child process per size ---------------------------------------------------------
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=15, help="requests per page (median)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.accounts[0], args.database, args.repeat)))
        return

    report = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": {}}
    for accounts in args.accounts:
        print(f"{args.database}, {accounts:,} accounts …", file=sys.stderr, flush=True)
        command = [sys.executable, __file__, "--child", "--database", args.database]
        command += ["--repeat", str(args.repeat), "--accounts", str(accounts)]
        # This same script with arguments it built itself: no untrusted input.
        out = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)  # noqa: S603
        result = json.loads(out.stdout.strip().splitlines()[-1])
        report["runs"][f"{args.database}-{accounts}"] = result
        print(_summary(result), file=sys.stderr, flush=True)
    report["about"] = (
        "median ms per request in-process (Django test client, full middleware); "
        "ratio_to_bare = bare view ms / page ms, measured in the same run"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}", file=sys.stderr)


def _summary(result) -> str:
    lines = [f"  seeded in {result['seed_s']} s"]
    for role, pages in result["pages"].items():
        for name, page in pages.items():
            lines.append(
                f"  {role:<6} {name:<19} {page['median_ms']:>9} ms (bare {page['bare_view_ms']})"
                f"  ×{page['ratio_to_bare']:<7} {page['queries']} queries"
            )
    return "\n".join(lines)


# --- Child: a throw-away database, seeded and measured ------------------------------------------
def child(accounts: int, database: str, repeat: int) -> dict:
    var = Path(tempfile.mkdtemp(prefix="powerhall-bench-org-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    os.environ["POWERHALL_VAR_DIR"] = str(var)
    server_url = None
    if database == "postgres":
        server_url = os.environ.get("DATABASE_URL", "")
        if not server_url.startswith("postgres"):
            server_url = DEFAULT_POSTGRES
        name = f"powerhall_bench_org_{os.getpid()}"
        _postgres(server_url, f'CREATE DATABASE "{name}"')
        os.environ["DATABASE_URL"] = server_url.rsplit("/", 1)[0] + "/" + name
    else:
        os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        org, admin, member = _seed(accounts)
        seed_s = round(time.perf_counter() - started, 1)
        result = _measure(org, admin, member, accounts, repeat)
        result["seed_s"] = seed_s
        return result
    finally:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        if server_url:
            _postgres(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(var, ignore_errors=True)


def _postgres(server_url: str, statement: str):
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(statement)


def _seed(accounts: int):
    from allauth.account.models import EmailAddress
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.db import connection, transaction

    from portal.models import (
        Binding,
        MemberRole,
        MemberScope,
        Membership,
        Organisation,
        ServiceAccount,
        User,
    )

    rnd = random.Random(20261127)
    with transaction.atomic():
        admin = User.objects.create_user(email="admin@bench.example.cn", password=None)
        member = User.objects.create_user(email="member@bench.example.cn", password=None)
        for user in (admin, member):
            EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        TOTP.activate(admin, generate_totp_secret())  # administrators must have two factors
        org = Organisation.objects.create(name="华北示例集团有限公司", uscc="91110105MA0BENCH01")
        other = Organisation.objects.create(name="另一家企业", uscc="91110105MA0BENCH02")
        admin_m = Membership.objects.create(organisation=org, user=admin, role=MemberRole.ADMIN)
        member_m = Membership.objects.create(organisation=org, user=member, role=MemberRole.MEMBER)

        def batch(start, count, organisation):
            rows = []
            for i in range(start, start + count):
                district = rnd.choice(DISTRICTS)
                rows.append(
                    ServiceAccount(
                        number=f"{5_000_000_000 + i}",
                        holder_name=f"北京{rnd.choice(BRANDS)}{rnd.choice(TRADES)}有限公司",
                        address=f"{district}{rnd.choice(ROADS)} {rnd.randint(1, 999)} 号",
                        district=district,
                        feeder=f"{rnd.randint(100, 399)} 线",
                        customer_class=rnd.choice(CLASSES),
                        tariff_code="LV-BIZ-FLAT",
                        status=rnd.choice(STATUSES),
                        meter_number=f"M{i:010d}",
                        phone=f"+86139{i % 100_000_000:08d}",
                    )
                )
            created = ServiceAccount.objects.bulk_create(rows)
            return Binding.objects.bulk_create(
                Binding(
                    account=a,
                    organisation=organisation,
                    label=f"门店 {n}" if n % 3 else "",
                    proof="holder_meter",
                    bound_by=admin,
                )
                for n, a in enumerate(created, start)
            )

        step = 5000
        for start in range(0, accounts, step):
            bindings = batch(start, min(step, accounts - start), org)
            MemberScope.objects.bulk_create(
                MemberScope(membership=member_m, binding=b, can_view=True, can_pay=True)
                for b in bindings[::2]
            )
        for start in range(accounts, accounts + max(accounts // 10, 1), step):
            batch(start, min(step, accounts + max(accounts // 10, 1) - start), other)
    with connection.cursor() as cursor:  # planner statistics, as a live database would have
        cursor.execute("ANALYZE")
    return org, admin_m, member_m


def _timed(client, url, repeat, *, stream=False, before=None):
    """Median ms of ``url`` and of the bare view, requested alternately, so that whatever else
    the machine is doing weighs on both alike."""
    from django.test import Client

    bare = Client()

    def once(c, u, stream=False):
        if before and c is client:
            before()
        started = time.perf_counter()
        response = c.get(u)
        body = b"".join(response.streaming_content) if stream else response.content
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, (u, response.status_code)
        return elapsed, body

    once(client, url, stream)  # warm: templates compiled, session recorded
    once(bare, "/bench/bare/")
    page_times, bare_times, body = [], [], b""
    for _ in range(repeat):
        bare_times.append(once(bare, "/bench/bare/")[0])
        elapsed, body = once(client, url, stream)
        page_times.append(elapsed)
    return statistics.median(page_times) * 1000, statistics.median(bare_times) * 1000, body


def _queries(client, url, *, stream=False, before=None) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if before:
        before()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        if stream:
            b"".join(response.streaming_content)
    # SAVEPOINT / RELEASE are transaction control, not reads or writes.
    return sum(1 for q in captured.captured_queries if "SAVEPOINT" not in q["sql"])


def _measure(org, admin, member, accounts, repeat) -> dict:
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    table = reverse("org:accounts", kwargs={"org": org.uuid})
    export = reverse("org:export", kwargs={"org": org.uuid})
    detail = reverse("org:account", kwargs={"org": org.uuid, "binding": org.bindings.first().uuid})
    result = {
        "accounts": accounts,
        "database": connection.vendor,
        "database_version": _db_version(connection),
        "python": platform.python_version(),
        "repeat": repeat,
        "pages": {},
        "plans": {},
    }
    for role, membership, visible in (
        ("admin", admin, accounts),
        ("member", member, (accounts + 1) // 2),
    ):
        client = Client()
        client.force_login(membership.user)
        last_page = max((visible + 49) // 50, 1)
        filtered = urlencode({"district": "朝阳区", "status": "active"})
        pages = {
            "first_page": (table, False, repeat),
            "first_page_uncached": (table, False, repeat),
            "filtered": (f"{table}?{filtered}", False, repeat),
            "search": (f"{table}?{urlencode({'q': '星河物流'})}", False, repeat),
            "number_prefix": (f"{table}?q=500000", False, repeat),
            "late_page": (f"{table}?page={last_page}", False, repeat),
            "export_all": (export, True, 3 if accounts > 10_000 else repeat),
            "account_page": (detail, False, repeat),
        }
        measured = {}
        for name, (url, stream, times) in pages.items():
            before = cache.clear if name == "first_page_uncached" else None
            ms, bare_ms, body = _timed(client, url, times, stream=stream, before=before)
            measured[name] = {
                "median_ms": round(ms, 1),
                "bare_view_ms": round(bare_ms, 2),
                "ratio_to_bare": round(bare_ms / ms, 4),
                "queries": _queries(client, url, stream=stream, before=before),
                "bytes": len(body),
            }
            if stream:
                measured[name]["rows"] = body.count(b"\n") - 1
        result["pages"][role] = measured

        # What the database does for the page's own queries (the summary and the rows).
        for name in ("first_page", "search"):
            result["plans"][f"{role}_{name}"] = _plans(client, pages[name][0])
    return result


def _plans(client, url) -> list[list[str]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            if 'FROM "portal_binding"' in query["sql"]:
                cursor.execute(explain + query["sql"])
                plans.append([" ".join(str(c) for c in row) for row in cursor.fetchall()])
    return plans


def _db_version(connection) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("select sqlite_version()")
        else:
            cursor.execute("show server_version")
        return cursor.fetchone()[0]


if __name__ == "__main__":
    main()
