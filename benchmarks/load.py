"""`make load`: a bounded load test of the production configuration (issue 21, "Load").

`scripts/prod-local load` starts `make prod-local` on a new database (nginx with TLS, two
gunicorn app servers, two task workers, the scheduler, PostgreSQL, Redis, localstripe) and runs
this script, which:

1. makes the load's people in that database: LOAD_RESIDENTS residents (40), each with a
   password, a verified address and an account with two years of bills like the demo
   resident's, the latest unpaid; and reads the demo member of staff's TOTP secret;
2. runs locust (benchmarks/locustfile.py) headless for LOAD_SECONDS (60) with LOAD_USERS (32)
   users with think time: residents signing in, reading their pages and paying through the
   Stripe path against localstripe, anonymous visitors on the public pages, one member of staff
   on the application queue;
3. the sign-in burst: 30 sign-ins within 3 s while 16 users browse, and a probe that asks for a
   signed-in resident's dashboard every 50 ms meanwhile: the probe's p99 is what the burst does
   to everyone else;
4. steps the load (LOAD_STEPS users, 20 s each) until p99 passes 1 s or a request fails: the
   knee, in requests a second per core, with the CPU each part of the system used in each step
   (app servers, PostgreSQL, Redis, nginx, workers, locust), which tells what saturates first;
5. checks that nothing was lost: every payment the provider took is credited once, the ledger
   balances, `audit_verify` passes, no webhook event stored twice;

and writes benchmarks/results/load.json and load.md (printed too). Exit status 1 when a request
of the main run failed or a check found a problem. docs/performance.md ("Load") has the figures.
"""

import csv
import json
import os
import statistics
import subprocess  # (runs locust and this checkout's scripts with fixed arguments)  # nosec
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
STATE = Path(os.environ.get("PROD_LOCAL_DIR", ROOT / "var/prod-local"))
URL = os.environ.get("PROD_LOCAL_URL", "https://127.0.0.1:8443")
OUT = STATE / "load"
RESULTS = ROOT / "benchmarks/results"
PYTHON = sys.executable
LOCUST = str(Path(PYTHON).parent / "locust")
LOAD_PASSWORD = "Powerhall-Load-2026"  # noqa: S105 (the load test's residents only)  # nosec
USERS = int(os.environ.get("LOAD_USERS", "32"))
SECONDS = int(os.environ.get("LOAD_SECONDS", "60"))
RESIDENTS = int(os.environ.get("LOAD_RESIDENTS", "40"))
STEPS = [int(n) for n in os.environ.get("LOAD_STEPS", "16,32,64,128,256").split(",")]
STEP_SECONDS = int(os.environ.get("LOAD_STEP_SECONDS", "20"))
# What the CPU of each process counts towards (by its command line).
PARTS = {
    "app servers (gunicorn)": "gunicorn",
    "task workers": "db_worker",
    "scheduler": "crontask",
    "PostgreSQL": "postgres",
    "Redis": "redis-server",
    "nginx": "nginx",
    "localstripe": "localstripe",
}
LOCUST_PART = "locust (the load)"  # this script's children: counted when they end


# --- 1. The load's people (Django, development settings, as seed_demo: prod-local's database) ----
def make_people() -> dict:
    import django

    django.setup()
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from django.db import transaction

    from payments.demo import seed_bills
    from portal.management.commands.seed_demo import DEMO_PASSWORD
    from portal.models import Binding, ProofMethod, ServiceAccount, User

    template = ServiceAccount.objects.get(number="3100000002")  # a demo resident's account
    residents = []
    with transaction.atomic():
        accounts = []
        for n in range(1, RESIDENTS + 1):
            email = f"load-{n:03d}@load.powerhall.test"
            residents.append({"email": email})
            if User.objects.filter(email=email).exists():  # made by an earlier run
                continue
            user = User.objects.create_user(
                email=email, password=LOAD_PASSWORD, name=f"负载{n:03d}", privacy_notice_version="x"
            )
            EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
            account = ServiceAccount.objects.create(
                number=f"39{n:08d}",
                holder_name=user.name,
                address=f"{template.address} {n} 号",
                district=template.district,
                feeder=template.feeder,
                customer_class=template.customer_class,
                tariff_code=template.tariff_code,
                tariff_unknown=template.tariff_unknown,
                status=template.status,
                meter_number=f"LOAD{n:08d}",
            )
            Binding.objects.create(
                account=account, user=user, proof=ProofMethod.HOLDER_AND_METER, bound_by=user
            )
            accounts.append(account)
    seed_bills(accounts=accounts)
    staff = User.objects.get(email="staff@demo.powerhall.cn")
    totp = Authenticator.objects.get(user=staff, type=Authenticator.Type.TOTP)
    return {
        "password": LOAD_PASSWORD,
        "residents": residents,
        "demo_password": DEMO_PASSWORD,
        "staff": {
            "email": staff.email,
            "totp_secret": totp.data["secret"],
        },
    }


# --- 5. Nothing lost (Django, production settings) ----------------------------------------------
def nothing_lost() -> dict:
    import django

    django.setup()
    from django.db.models import Count, Sum

    from payments.models import AttemptStatus, LedgerEntry, LedgerLine, PaymentAttempt

    succeeded = PaymentAttempt.objects.filter(status=AttemptStatus.SUCCEEDED)
    # One ledger entry a bill the payment covers, under the payment's reference.
    bills_paid = {
        attempt.reference: attempt.bills
        for attempt in succeeded.annotate(bills=Count("items")).only("uuid")
    }
    entries = Counter(
        LedgerEntry.objects.filter(reference__in=bills_paid).values_list("reference", flat=True)
    )
    unbalanced = (
        LedgerLine.objects.values("entry_id").annotate(total=Sum("amount")).exclude(total=0)
    )
    audit = subprocess.run(  # nosec (fixed arguments)
        [PYTHON, "manage.py", "audit_verify"], cwd=ROOT, capture_output=True, text=True
    )
    return {
        "payments_succeeded": len(bills_paid),
        "payments_credited_once": sum(entries[ref] == n for ref, n in bills_paid.items()),
        "payments_not_succeeded": PaymentAttempt.objects.exclude(
            status=AttemptStatus.SUCCEEDED
        ).count(),
        "unbalanced_ledger_entries": unbalanced.count(),
        "audit_verify": audit.returncode == 0,
        "audit_verify_says": (audit.stdout + audit.stderr).strip().splitlines()[-1:],
        "succeeded_per_gateway": dict(
            succeeded.values_list("gateway").annotate(n=Count("id")).values_list("gateway", "n")
        ),
    }


# --- Running locust -----------------------------------------------------------------------------
def locust(
    name: str, users: int, rate: float, seconds: int, classes: list[str]
) -> subprocess.Popen:
    env = {
        **os.environ,
        "LOAD_USERS": str(OUT / "people.json"),
        "LOAD_CA": str(STATE / "tls/ca.pem"),
    }
    command = [
        LOCUST,
        "-f",
        str(ROOT / "benchmarks/locustfile.py"),
        "--headless",
        "--host",
        URL,
        "-u",
        str(users),
        "-r",
        str(rate),
        "-t",
        f"{seconds}s",
        "--stop-timeout",
        "10",
        "--csv",
        str(OUT / name),
        "--only-summary",
        "--loglevel",
        "WARNING",
        *classes,
    ]
    return subprocess.Popen(  # nosec (fixed arguments)
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(OUT / f"{name}.log", "w"),  # noqa: SIM115
    )


def stats(name: str) -> dict:
    """Per request name and "Aggregated": count, failures, requests/s, p50/p95/p99 (ms)."""
    rows = {}
    with open(OUT / f"{name}_stats.csv") as file:
        for row in csv.DictReader(file):
            rows[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "per_s": round(float(row["Requests/s"]), 1),
                "p50_ms": float(row["50%"]),
                "p95_ms": float(row["95%"]),
                "p99_ms": float(row["99%"]),
            }
    return rows


def cpu_snapshot() -> dict:
    """The CPU seconds so far of every running process of each part, by (pid, start time), and
    of the finished locust runs (this process's children)."""
    import resource

    import psutil

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    processes = {}
    for process in psutil.process_iter(["cmdline", "cpu_times", "create_time"]):
        command = " ".join(process.info["cmdline"] or [])
        times = process.info["cpu_times"]
        if not times:
            continue
        for part, marker in PARTS.items():
            if marker in command:
                key = (process.pid, process.info["create_time"])
                processes[key] = (part, times.user + times.system)
                break
    return {"processes": processes, "locust": children.ru_utime + children.ru_stime}


def cpu_shares(before: dict, after: dict, wall: float) -> dict[str, float]:
    """Each part's share of all the cores between two snapshots: what its processes running at
    the end used since the first (a process that started in between, all of its time). A
    process that ended in between (a PostgreSQL backend, a gunicorn worker replaced after its
    max_requests) is not counted, so a share can only be too small, never below zero."""
    seconds = dict.fromkeys(PARTS, 0.0) | {LOCUST_PART: after["locust"] - before["locust"]}
    for key, (part, used) in after["processes"].items():
        seconds[part] += used - before["processes"].get(key, (part, 0.0))[1]
    return {part: round(used / (wall * os.cpu_count()), 2) for part, used in seconds.items()}


def main_run() -> dict:
    run = locust("main", USERS, USERS / 4, SECONDS, ["Resident", "Visitor", "Staff"])
    run.wait()
    return stats("main")


def burst(people: dict) -> dict:
    """30 sign-ins within 3 s while 16 users browse; a probe asks for a dashboard meanwhile."""
    browsing = locust("burst-browsing", 16, 8, 30, ["Resident", "Visitor"])
    time.sleep(10)  # the browsers have signed in and are reading
    probe = requests.Session()
    probe.trust_env = False
    probe.verify = str(STATE / "tls/ca.pem")
    page = probe.get(URL + "/accounts/login/")
    token = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    probe.post(
        URL + "/accounts/login/",
        data={
            "csrfmiddlewaretoken": token,
            "login": "resident@demo.powerhall.cn",
            "password": "Powerhall-Demo-2026",
        },  # the published demo password  # nosec
        headers={"Referer": URL + "/accounts/login/"},
    )
    times, errors, done = [], [], threading.Event()

    def ask():
        while not done.is_set():
            started = time.perf_counter()
            answer = probe.get(URL + "/me/", allow_redirects=False)
            times.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 200:
                errors.append(answer.status_code)
            time.sleep(0.05)

    prober = threading.Thread(target=ask)
    prober.start()
    sign_ins = locust("burst-sign-ins", 30, 10, 12, ["SignIn"])
    sign_ins.wait()
    done.set()
    prober.join()
    browsing.wait()
    ordered = sorted(times)
    return {
        "probe_requests": len(times),
        "probe_errors": len(errors),
        "probe_p50_ms": round(statistics.median(ordered), 1),
        "probe_p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
        "probe_max_ms": round(ordered[-1], 1),
        "sign_ins": stats("burst-sign-ins").get("sign-in", {}),
        "browsing": stats("burst-browsing").get("Aggregated", {}),
    }


def steps() -> list[dict]:
    found = []
    for users in STEPS:
        before = cpu_snapshot()
        started = time.monotonic()
        run = locust(f"step-{users}", users, users / 2, STEP_SECONDS, ["Resident", "Visitor"])
        run.wait()
        wall = time.monotonic() - started
        after = cpu_snapshot()
        total = stats(f"step-{users}")["Aggregated"]
        step = {
            "users": users,
            **total,
            "per_s_per_core": round(total["per_s"] / os.cpu_count(), 1),
            "cpu_share": cpu_shares(before, after, wall),
        }
        found.append(step)
        print(
            f"  {users:4} users: {total['per_s']:6.1f} requests/s, p99 {total['p99_ms']:6.0f} ms,"
            f" {total['failures']} failed",
            flush=True,
        )
        if total["p99_ms"] > 1000 or total["failures"]:
            break
    return found


def in_child(function: str, env: dict | None = None) -> dict:
    answer = subprocess.run(  # nosec (fixed arguments)
        [PYTHON, __file__, f"--{function}"],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
    )
    if answer.returncode:
        raise SystemExit(f"benchmarks/load.py --{function} failed:\n{answer.stderr}")
    return json.loads(answer.stdout.strip().splitlines()[-1])


def report(result: dict) -> str:
    lines = [
        f"# Load test, {result['measured_at']}",
        "",
        f"`make load`: {result['setup']}",
        "",
        f"## Main run: {USERS} users with think time, {SECONDS} s",
        "",
        "| request | count | failed | per s | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in result["main"].items():
        lines.append(
            f"| {name} | {row['requests']} | {row['failures']} | {row['per_s']} |"
            f" {row['p50_ms']:.0f} | {row['p95_ms']:.0f} | {row['p99_ms']:.0f} |"
        )
    b = result["burst"]
    lines += [
        "",
        "## Sign-in burst",
        "",
        f"30 sign-ins in 3 s ({b['sign_ins'].get('requests', 0)} answered, p99"
        f" {b['sign_ins'].get('p99_ms', 0):.0f} ms) while 16 users browse: a signed-in dashboard"
        f" asked every 50 ms answered with p50 {b['probe_p50_ms']} ms, p99 {b['probe_p99_ms']} ms,"
        f" max {b['probe_max_ms']} ms ({b['probe_requests']} requests,"
        f" {b['probe_errors']} errors).",
        "",
        "## Stepping the load",
        "",
        "| users | requests/s | per core | p99 ms | failed | busiest parts (share of all cores) |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for step in result["steps"]:
        busiest = sorted(step["cpu_share"].items(), key=lambda item: -item[1])[:3]
        lines.append(
            f"| {step['users']} | {step['per_s']} | {step['per_s_per_core']} |"
            f" {step['p99_ms']:.0f} | {step['failures']} |"
            f" {', '.join(f'{part} {share:.0%}' for part, share in busiest)} |"
        )
    lines += ["", "## Nothing lost", "", "```", json.dumps(result["checks"], indent=2), "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    if "--make-people" in sys.argv:
        print(json.dumps(make_people()))
        return 0
    if "--nothing-lost" in sys.argv:
        print(json.dumps(nothing_lost()))
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    # As seed_demo: development settings (it publishes a password), prod-local's database.
    people = in_child("make-people", {"POWERHALL_ENV": "development", "REDIS_URL": ""})
    (OUT / "people.json").write_text(json.dumps(people))
    print(f"load test against {URL}: {len(people['residents'])} residents made", flush=True)
    result = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "setup": (
            f"{os.cpu_count()} cores; nginx, 2 gunicorn app servers"
            f" ({os.environ.get('WEB_CONCURRENCY', '2')} workers each,"
            f" {os.environ.get('GUNICORN_CMD_ARGS') or 'sync'}), 2 task workers, PostgreSQL,"
            " Redis, localstripe, locust on the same machine"
        ),
    }
    print(f"main run: {USERS} users, {SECONDS} s", flush=True)
    result["main"] = main_run()
    print("sign-in burst", flush=True)
    result["burst"] = burst(people)
    print("stepping the load", flush=True)
    result["steps"] = steps()
    result["checks"] = checks = in_child("nothing-lost")
    # Cards confirmed at the provider, by the locust runs: each must be a payment here.
    confirmed = sum(
        row["requests"] - row["failures"]
        for name in ("main", "burst-browsing", *(f"step-{s['users']}" for s in result["steps"]))
        for key, row in stats(name).items()
        if key == "provider: confirm the card"
    )
    checks["cards_confirmed_at_the_provider"] = confirmed
    problems = [
        problem
        for problem, bad in {
            "a request of the main run failed": result["main"]["Aggregated"]["failures"] > 0,
            "a payment was not credited exactly once": checks["payments_credited_once"]
            != checks["payments_succeeded"],
            "a card the provider took has no payment here": confirmed
            > checks["payments_succeeded"],
            "the ledger does not balance": checks["unbalanced_ledger_entries"] > 0,
            "the audit chain does not verify": not checks["audit_verify"],
        }.items()
        if bad
    ]
    result["problems"] = problems
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    table = report(result)
    (RESULTS / "load.md").write_text(table)
    print(table)
    if problems:
        print("PROBLEMS: " + "; ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
