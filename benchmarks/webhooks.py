"""Webhook events handled per second on PostgreSQL, duplicates mixed in (issue #5: goal ≥ 150/s
with 2 workers).

    .venv/bin/python benchmarks/webhooks.py                       # 3,000 events, 8 clients
    .venv/bin/python benchmarks/webhooks.py --events 1000 --clients 16
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/webhooks.py

A fresh database ph_bench_webhooks is created next to the one DATABASE_URL names (the local
server's ``postgres`` database when DATABASE_URL is not PostgreSQL) and dropped afterwards. A
setup process migrates it and makes one customer, account, bill and begun Stripe payment attempt
per event (a bill in two is overdue, so its payment also charges the penalty; one account in
twenty is suspended, so clearing it also requests reconnection), and writes each attempt's
``payment_intent.succeeded`` event, unsigned. The portal is served by gunicorn with 2 sync
workers (as ``make bench``); client threads sign every delivery when they send it (Stripe's
scheme, the endpoint's secret) and POST it to /pay/webhooks/stripe/. One delivery in five is a
repeat of an event, at a random place in the stream (sometimes while the first is still being
handled). Afterwards every event must be stored once, every payment credited once, the ledger
balanced and the audit chain intact, or the run fails.

``events_per_s`` counts distinct events handled per second of the load; ``requests_per_s``
counts every delivery (repeats included). The bare Django view (/bench/bare/), loaded by the
same client against the same server just before, gives ``ratio_to_bare`` as in run.py.
Merged into benchmarks/results/latest.json under "webhooks" (``make bench`` runs it too).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.import_accounts import bench_database, manage, run_driver  # noqa: E402
from benchmarks.serving import gunicorn_start  # noqa: E402

# BENCH_WEBHOOKS_DB: another name, so two checkouts can run the benchmark on one server at once.
BENCH_DB = os.environ.get("BENCH_WEBHOOKS_DB", "ph_bench_webhooks")
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
SECRET = "whsec_bench_webhooks"  # noqa: S105 - a throw-away test secret
RESULTS = ROOT / "benchmarks/results/latest.json"
WAIT_LABELS = ("audit chain head", "webhook event row", "payment attempt row", "bill row", "other")

# --- The processes: set-up, load, check (each a fresh Python with Django set up) ----------------

SETUP = """
import json, sys
from datetime import date, timedelta
from decimal import Decimal
import django
django.setup()
from django.db import transaction
from payments import gateways
from payments.bills import bill_issue_postings
from portal.core import clock
from payments.ledger import bills_refresh, ledger_post_many
from payments.models import AttemptBill, Bill, EntryKind, LedgerEntry, PaymentAttempt
from portal.core.money import yuan_to_fen
from payments.selectors import owed_today
from portal.models import Binding, ServiceAccount, User

count = int(sys.argv[2])
today = clock.today()
with transaction.atomic():
    users = User.objects.bulk_create(
        User(email=f"payer{n}@bench.example.cn", name=f"客户{n}", password="!")
        for n in range(count)
    )
    accounts = ServiceAccount.objects.bulk_create(
        ServiceAccount(
            number=f"{3900000000 + n}", holder_name=f"户主{n}", address=f"示例路 {n} 号",
            district="朝阳区", feeder="望京 112 线", customer_class="residential",
            tariff_code="RES-TIER-M", status="suspended" if n % 20 == 0 else "active",
            meter_number=f"M{n:010d}",
        )
        for n in range(count)
    )
    Binding.objects.bulk_create(
        Binding(user=user, account=account, proof="holder_meter")
        for user, account in zip(users, accounts)
    )
    bills = Bill.objects.bulk_create(
        Bill(
            number=f"BW{n:08d}", account=account, tariff_code=account.tariff_code,
            period_start=today - timedelta(days=70), period_end=today - timedelta(days=40),
            issue_date=today - timedelta(days=35),
            # Every other bill is overdue (its payment charges the penalty), the rest due soon.
            due_date=today - timedelta(days=20) if n % 2 == 0 else today + timedelta(days=10),
            kwh=Decimal("200.00"), amount=Decimal(100 + n % 400) + Decimal("0.50"),
        )
        for n, account in enumerate(accounts)
    )
    ledger_post_many(entries=[
        (LedgerEntry(kind=EntryKind.BILL_ISSUED, effective_date=bill.issue_date,
                     reference=bill.number), bill_issue_postings(bill=bill))
        for bill in bills
    ])
    bills_refresh(bill_ids=[bill.pk for bill in bills])
bills = list(Bill.objects.filter(number__startswith="BW").select_related("account").order_by("pk"))
owed = owed_today(bills=bills, as_of=today)
users = {b.account_id: b.user for b in Binding.objects.select_related("user")}
# What attempt_create and attempt_begin leave for each bill: the amount frozen, Stripe's
# PaymentIntent made (its id stored), waiting for the customer.
attempts = []
for n, bill in enumerate(bills):
    attempt = PaymentAttempt(
        created_by=users[bill.account_id], amount=owed[bill.pk].total, business_date=today,
        expires_at=clock.day_end(today), gateway="stripe", intent_id=f"pi_bench{n:08d}",
    )
    attempt.idempotency_key = f"attempt-{attempt.uuid}"
    attempts.append(attempt)
with transaction.atomic():
    PaymentAttempt.objects.bulk_create(attempts)
    AttemptBill.objects.bulk_create(
        AttemptBill(attempt=attempt, bill=bill, principal=owed[bill.pk].principal,
                    penalty=owed[bill.pk].penalty_due)
        for attempt, bill in zip(attempts, bills)
    )
with open(sys.argv[1], "w") as out:
    for attempt in attempts:
        state = gateways.IntentState(
            id=attempt.intent_id, status=gateways.SUCCEEDED, amount=yuan_to_fen(attempt.amount),
            currency=attempt.currency, attempt_uuid=str(attempt.uuid), payment_method="card",
        )
        payload, _signature = gateways.local_event(state, "payment_intent.succeeded")
        out.write(payload.decode() + "\\n")
print(json.dumps({"events": len(attempts)}))
"""

LOAD = """
import http.client, json, os, random, statistics, sys, threading, time
import django
django.setup()
import psycopg
from django.conf import settings
from payments.gateways import signature_header

port, clients, repeats, mode = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
with open(sys.argv[1], "rb") as lines:
    events = [line.rstrip(b"\\n") for line in lines]
rng = random.Random(2026)
# Every event once, and a share of them again: repeats / (1 + repeats) of the deliveries.
deliveries = events + rng.sample(events, round(len(events) * repeats))
rng.shuffle(deliveries)
secret = settings.STRIPE_WEBHOOK_SECRET


def load(requests):
    todo = iter(requests)
    guard = threading.Lock()
    latencies, statuses = [], {}

    def client():
        while True:
            with guard:
                item = next(todo, None)
            if item is None:
                return
            method, path, body = item
            headers = {}
            if body:
                # Signed as it leaves, as Stripe signs: the 300 s tolerance holds however long
                # the run.
                headers = {
                    "Content-Type": "application/json",
                    "Stripe-Signature": signature_header(body, secret=secret),
                }
            started = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            conn.close()
            elapsed = time.perf_counter() - started
            with guard:
                latencies.append(elapsed)
                statuses[response.status] = statuses.get(response.status, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    latencies.sort()
    return {
        "seconds": seconds,
        "requests": len(requests),
        "requests_per_s": len(requests) / seconds,
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
        "statuses": statuses,
    }


# What the database sessions of the run are doing, every 20 ms: running, or waiting for a row
# lock, and on which (told apart by the statement that waits); and the CPU time their server
# processes have used (read as they go: a session closed by CONN_MAX_AGE takes its count along).
WAITS = {
    "portal_auditchainhead": "audit chain head",
    "payments_webhookevent": "webhook event row",
    "payments_paymentattempt": "payment attempt row",
    "payments_bill": "bill row",
}
samples = {"ticks": 0, "running": 0, "lock_wait": 0, **dict.fromkeys(WAITS.values(), 0)}
samples["other"] = 0
backend_cpu = {}
done = threading.Event()


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sample():
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        while not done.wait(0.02):
            rows = conn.execute(
                "SELECT pid, state, wait_event_type, query FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
            samples["ticks"] += 1
            for pid, state, wait_type, query in rows:
                backend_cpu[pid] = max(backend_cpu.get(pid, 0), cpu_seconds(pid))
                if state != "active":
                    continue
                if wait_type != "Lock":
                    samples["running"] += 1
                    continue
                samples["lock_wait"] += 1
                samples[next((v for k, v in WAITS.items() if k in query), "other")] += 1


if mode == "bare":
    print(json.dumps(load([("GET", "/bench/bare/", None)] * min(len(deliveries), 2000))))
else:
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        hooks = load([("POST", "/pay/webhooks/stripe/", body) for body in deliveries])
    finally:
        done.set()
        sampler.join()
    hooks["events"] = len(events)
    hooks["events_per_s"] = len(events) / hooks["seconds"]
    hooks["db_samples"] = samples
    hooks["database_cpu_seconds"] = sum(backend_cpu.values())
    print(json.dumps(hooks))
"""

CHECK = """
import json, sys
from collections import Counter
import django
django.setup()
from django.db.models import Sum
from payments.models import (AttemptStatus, BillingExport, Book, LedgerLine, PaymentAttempt,
                             ReconnectionRequest, WebhookEvent)
from portal.core.audit import audit_head
from portal.models import AuditEvent

by_entry = {}
for entry_id, amount in LedgerLine.objects.values_list("entry_id", "amount"):
    by_entry[entry_id] = by_entry.get(entry_id, 0) + amount
cash = LedgerLine.objects.filter(book=Book.CASH).aggregate(total=Sum("amount"))["total"]
paid = PaymentAttempt.objects.filter(status=AttemptStatus.SUCCEEDED)
print(json.dumps({
    "events_stored": WebhookEvent.objects.count(),
    "event_statuses": dict(Counter(WebhookEvent.objects.values_list("status", flat=True))),
    "deliveries_recorded": WebhookEvent.objects.aggregate(n=Sum("deliveries"))["n"],
    "attempts_succeeded": paid.count(),
    "cash_lines": LedgerLine.objects.filter(book=Book.CASH).count(),
    "cash_equals_attempts": cash == paid.aggregate(total=Sum("amount"))["total"],
    "unbalanced_entries": sum(1 for total in by_entry.values() if total != 0),
    "payment_audit_rows": AuditEvent.objects.filter(action="payment.succeeded").count(),
    "exports": BillingExport.objects.count(),
    "reconnections": ReconnectionRequest.objects.count(),
    "audit_head_seq": audit_head()[0],
}))
"""


def _with_args(script: str, *args) -> str:
    # run_driver passes one argument (the path); the rest are set before the script runs.
    return f"import sys\nsys.argv[2:] = {[str(arg) for arg in args]!r}\n" + script


def bench_env(var: Path, database_url: str) -> dict:
    """The environment of the portal's processes in a webhook benchmark: its own folder and
    database, the local gateway's test secret, no Stripe key, no Redis, and the database task
    queue as in production (renders and e-mails queued, not run inline)."""
    return {
        **os.environ,
        "POWERHALL_VAR_DIR": str(var),
        "DATABASE_URL": database_url,
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "STRIPE_SECRET_KEY": "",
        "REDIS_URL": "",
        "TASKS_BACKEND": "database",
    }


def cpu_seconds(pids) -> float:
    """User + system CPU time the processes ``pids`` have used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def gunicorn_workers(server: subprocess.Popen) -> list[int]:
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    return [int(pid) for pid in children]


def bench(*, events: int = 3000, clients: int = 8, repeats: float = 0.25) -> dict:
    """Run the benchmark; return its entry for the results file. ``problems`` lists what the
    database does not show exactly right afterwards (empty: every event once, every payment
    credited once, the ledger balanced, the audit chain intact)."""
    var = Path(tempfile.mkdtemp(prefix="powerhall-bench-webhooks-"))
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        url = DEFAULT_POSTGRES
    saved = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url  # bench_database reads it
    try:
        _engine, bench_url, cleanup = bench_database(var, BENCH_DB)
    finally:
        if saved is None:
            del os.environ["DATABASE_URL"]
        else:
            os.environ["DATABASE_URL"] = saved
    env = bench_env(var, bench_url)
    server = None
    try:
        manage("migrate", "--no-input", "-v", "0", env=env)
        stream = var / "events.jsonl"
        run_driver(_with_args(SETUP, events), stream, env)
        server, port = gunicorn_start(env)
        bare = run_driver(_with_args(LOAD, port, clients, repeats, "bare"), stream, env)
        workers = gunicorn_workers(server)
        workers_before = cpu_seconds(workers)
        load_average = os.getloadavg()[0]
        hooks = run_driver(_with_args(LOAD, port, clients, repeats, "webhooks"), stream, env)
        workers_cpu = cpu_seconds(workers) - workers_before
        load_average = max(load_average, os.getloadavg()[0])
        server.terminate()
        server.wait(timeout=30)
        server = None
        check = run_driver(_with_args(CHECK), stream, env)
        audit = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", "audit_verify"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        cleanup()
        shutil.rmtree(var, ignore_errors=True)
    deliveries = hooks["requests"]
    problems = [
        name
        for name, ok in {
            "a delivery was not answered 200": hooks["statuses"] == {"200": deliveries},
            "an event was stored twice or lost": check["events_stored"] == events,
            "a delivery was not counted": check["deliveries_recorded"] == deliveries,
            "a payment was not credited once": check["cash_lines"] == events
            and check["attempts_succeeded"] == events
            and check["payment_audit_rows"] == events,
            "cash differs from the payments": check["cash_equals_attempts"],
            "the ledger does not balance": check["unbalanced_entries"] == 0,
            "the audit chain is broken": audit.returncode == 0,
        }.items()
        if not ok
    ]
    samples = hooks["db_samples"]
    return {
        "events_per_s": round(hooks["events_per_s"], 1),
        "requests_per_s": round(hooks["requests_per_s"], 1),
        "p50_ms": hooks["p50_ms"],
        "p99_ms": hooks["p99_ms"],
        "non_2xx": deliveries - hooks["statuses"].get("200", 0),
        "ratio_to_bare": round(hooks["requests_per_s"] / bare["requests_per_s"], 3),
        "bare_view_requests_per_s": round(bare["requests_per_s"], 1),
        "events": events,
        "deliveries": deliveries,
        "repeats": deliveries - events,
        "seconds": round(hooks["seconds"], 1),
        # Where the time goes: CPU per delivery in the two workers and in PostgreSQL, and the
        # share of busy database sessions that were waiting for a row lock (by row).
        "worker_cpu_ms_per_delivery": round(workers_cpu / deliveries * 1000, 1),
        "database_cpu_ms_per_delivery": round(hooks["database_cpu_seconds"] / deliveries * 1000, 1),
        # Of the two workers' time, the share spent waiting in the database for a row lock
        # (sampled every 20 ms), by the row waited for.
        "lock_wait_share": {
            label: round(samples[label] / (samples["ticks"] * 2), 3)
            for label in ("lock_wait", *WAIT_LABELS)
            if samples[label]
        },
        "load_average": round(load_average, 2),
        "cpus": os.cpu_count(),
        "database": f"postgresql ({urlsplit(url).hostname})",
        "server": "gunicorn, 2 sync workers",
        "load": f"{clients} client threads, one connection per delivery, each signed as sent",
        "check": {**check, "audit_verify": audit.stdout.strip().splitlines()[-1:]},
        "problems": problems,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--repeats", type=float, default=0.25, help="repeats per event (0.25: 1 delivery in 5)"
    )
    args = parser.parse_args()
    result = bench(events=args.events, clients=args.clients, repeats=args.repeats)
    report = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    report["webhooks"] = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **result}
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(report["webhooks"], indent=2, ensure_ascii=False))
    if result["problems"]:
        raise SystemExit("webhook benchmark: " + "; ".join(result["problems"]))


if __name__ == "__main__":
    main()
