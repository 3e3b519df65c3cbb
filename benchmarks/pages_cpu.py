"""CPU time of the signed-in pages, as a ratio to the bare view, in one process (issue 15).

    .venv/bin/python benchmarks/pages_cpu.py [--requests 40] [--rounds 5] [--var DIR]

`benchmarks/run.py --only pages` measures throughput under wrk, which on a machine shared with
other work moves by a factor of two from run to run (the load generator, the server and whoever
else is busy share two cores). This measures what a request costs the process itself:
time.process_time() around Django's test client, the bare view (/bench/bare/) and each page
requested in alternating batches, so the ratio (bare CPU time / page CPU time, the same "share
of the bare view" as run.py) is steady under load. It leaves out what wrk adds (HTTP parsing,
gunicorn), which is the same for every page.

The database is the demo's (migrate and seed_demo) plus an organisation with 1,000 accounts
(benchmarks/org_dashboard.py), in a temporary folder, or in --var if given (seeded on first
use, reused after: two checkouts can then be compared on the very same data).
"""

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="requests a batch")
    parser.add_argument("--rounds", type=int, default=5, help="batches a page (median)")
    parser.add_argument("--var", help="a folder for the database, kept between runs")
    args = parser.parse_args()
    var = Path(args.var or tempfile.mkdtemp(prefix="powerhall-cpu-"))
    fresh = not (var / "seeded").exists()
    var.mkdir(parents=True, exist_ok=True)
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    os.environ["POWERHALL_VAR_DIR"] = str(var)

    import django

    django.setup()
    from django.core.management import call_command

    if fresh:
        call_command("migrate", "--no-input", verbosity=0)
        with contextlib.redirect_stdout(io.StringIO()):
            call_command("seed_demo")
            from benchmarks.org_dashboard import _seed

            _seed(1000)
        (var / "seeded").write_text("")
    print(json.dumps(measure(args.requests, args.rounds), indent=2))


def _pages():
    from payments.models import Bill
    from portal.models import Binding, Organisation

    home = Binding.objects.get(user__email="resident@demo.powerhall.cn", label="家")
    bill = Bill.objects.filter(account=home.account, status="open").order_by("due_date").first()
    org = Organisation.objects.get(uscc="91110105MA0BENCH01")
    resident, member = "resident@demo.powerhall.cn", "member@bench.example.cn"
    return {
        "my_account": (resident, "/me/"),
        "bill_list": (resident, "/me/bills/"),
        "bill_overdue": (resident, f"/bills/{bill.uuid}/"),
        "usage": (resident, f"/me/accounts/{home.uuid}/usage/"),
        "pay": (resident, "/pay/"),
        "business_table_1000": (member, f"/org/{org.uuid}/"),
    }


def measure(requests: int, rounds: int) -> dict:
    from django.test import Client

    from portal.models import User

    def batch(client, path) -> float:
        start = time.process_time()
        for _ in range(requests):
            response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}")
        return (time.process_time() - start) / requests

    clients = {}
    results = {}
    bare = Client()
    for name, (email, path) in _pages().items():
        if email not in clients:
            clients[email] = Client()
            clients[email].force_login(User.objects.get(email=email))
        client = clients[email]
        for _ in range(5):  # warm: templates, URL resolver, the session's first request
            client.get(path)
            bare.get("/bench/bare/")
        page_cpu, bare_cpu = [], []
        for _ in range(rounds):
            bare_cpu.append(batch(bare, "/bench/bare/"))
            page_cpu.append(batch(client, path))
        page, ref = statistics.median(page_cpu), statistics.median(bare_cpu)
        results[name] = {
            "cpu_ms": round(page * 1000, 2),
            "bare_cpu_ms": round(ref * 1000, 3),
            "ratio_to_bare": round(ref / page, 3),
        }
    return {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "requests_a_batch": requests,
        "rounds": rounds,
        "pages": results,
    }


if __name__ == "__main__":
    main()
