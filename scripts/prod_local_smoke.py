#!/usr/bin/env python
"""The smoke test of `make prod-local` (scripts/prod-local smoke; CI runs it): the production
configuration on this machine answers as it must, through nginx, with every part real.

1. A page through nginx over TLS, with the security headers, served by both app servers.
2. The health check through nginx.
3. A rate limit that holds across both app servers (they count in the same Redis).
4. A resident signs in and pays a bill through the Stripe path (localstripe); the provider's
   webhook, sent twice, credits it once; the ledger balances.
5. A task executed by a real worker: the receipt's PDF rendered, the e-mail sent through SMTP.
6. A scheduled job run twice at once (the command, twice) does its work once; the same job
   enqueued twice as the scheduler does is run by the workers and does nothing more.
7. The scheduler holds its lock and its every-minute job has been run by a worker.
8. With a read replica (PROD_LOCAL_REPLICA=1): the bill list answers from it, and from the
   primary once the replica is stopped.

Each check prints one line; the first that fails ends the run with status 1 and says why.
"""

import json
import logging
import os
import re
import secrets
import subprocess  # (runs this checkout's own manage.py and scripts, fixed arguments)  # nosec
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()
logging.getLogger("stripe").setLevel(logging.WARNING)  # this script's own calls to localstripe

from django.conf import settings  # noqa: E402
from django.urls import reverse  # noqa: E402
from django_tasks_db.models import DBTaskResult  # noqa: E402

from payments import gateways  # noqa: E402
from payments.gateways import stripe_api  # noqa: E402
from payments.models import (  # noqa: E402
    AttemptStatus,
    Bill,
    BillStatus,
    LedgerLine,
    PaymentAttempt,
    Receipt,
)
from portal.core import clock  # noqa: E402
from portal.core.replica import PIN_COOKIE  # noqa: E402
from portal.models import Notification, User  # noqa: E402

URL = os.environ["PROD_LOCAL_URL"]
STATE = Path(os.environ["PROD_LOCAL_DIR"])
CERT = STATE / "tls" / "ca.pem"  # the authority that signed the server's certificate
RESIDENT = "resident@demo.powerhall.cn"
DEMO_PASSWORD = "Powerhall-Demo-2026"  # noqa: S105  (the demo's published password)  # nosec


class Failed(Exception):
    pass


def check(condition, message: str) -> None:
    if not condition:
        raise Failed(message)


def ok(message: str) -> None:
    print(f"  ok  {message}", flush=True)


def wait_until(what: str, condition, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise Failed(f"{what}: not within {seconds:.0f} s")


def browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise win over the authority here
    session.verify = str(CERT)
    session.headers["Accept-Language"] = "en"
    return session


def form_token(session: requests.Session, path: str) -> str:
    page = session.get(URL + path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    check(token, f"{path}: no CSRF token in the form")
    return token.group(1)


def csrf_post(session: requests.Session, path: str, data: dict, *, token: str | None = None):
    """POST as the browser does: the form's CSRF token (read from the form unless given), and
    the Origin/Referer of this site."""
    token = token or form_token(session, path)
    return session.post(
        URL + path,
        data={"csrfmiddlewaretoken": token, **data},
        headers={"Origin": URL, "Referer": URL + path},
        allow_redirects=False,
    )


def access_log_lines(app: int) -> list[str]:
    path = STATE / "log" / f"app{app}-access.log"
    return path.read_text().splitlines() if path.exists() else []


# --- 1, 2: pages and health through nginx ---------------------------------------------------------
def page_through_nginx() -> None:
    session = browser()
    before = [len(access_log_lines(1)), len(access_log_lines(2))]
    for _ in range(6):
        response = session.get(URL + "/")
        check(response.status_code == 200, f"home page: {response.status_code}")
    check(response.headers.get("Server") == "nginx", "the answer did not come through nginx")
    check("max-age=" in response.headers.get("Strict-Transport-Security", ""), "no HSTS header")
    check("default-src" in response.headers.get("Content-Security-Policy", ""), "no CSP")
    check(response.headers.get("X-Content-Type-Options") == "nosniff", "no nosniff")
    request_id = response.headers.get("X-Request-ID", "")
    nginx_log = (STATE / "log" / "nginx-access.log").read_text()
    check(request_id and f"request_id={request_id}" in nginx_log, "nginx's request id not kept")
    after = [len(access_log_lines(1)), len(access_log_lines(2))]
    check(all(a > b for a, b in zip(after, before, strict=True)), "one app server got nothing")
    ok("the home page through nginx over TLS, security headers, both app servers answering")

    plain = requests.get(
        URL.replace("https", "http").replace(":8443", ":8080") + "/bills/",
        allow_redirects=False,
        timeout=5,
    )
    check(plain.status_code == 301 and plain.headers["Location"].startswith(URL), "no redirect")
    ok("plain HTTP is redirected to HTTPS")

    token = secrets.token_urlsafe(16)
    session.get(URL + f"/org/invitations/{token}/")
    nginx_log = (STATE / "log" / "nginx-access.log").read_text()
    check("/org/invitations/[token]/" in nginx_log, "the invitation's visit is not in the log")
    check(token not in nginx_log, "nginx logged an invitation's token")
    ok("nginx logs an invitation link's visit without its token")

    health = session.get(URL + "/healthz")
    body = health.json()
    check(health.status_code == 200, f"/healthz: {health.status_code} {body}")
    ok(f"/healthz through nginx: {json.dumps(body, ensure_ascii=False)}")


# --- 3: a rate limit shared by both app servers ---------------------------------------------------
def rate_limit_across_app_servers() -> None:
    session = browser()
    stranger = f"nobody-{secrets.token_hex(4)}@prodlocal.test"
    before = [len(access_log_lines(1)), len(access_log_lines(2))]
    answers = []
    token = form_token(session, "/accounts/login/")
    for _ in range(6):  # nginx hands them to the app servers in turn
        response = csrf_post(
            session,
            "/accounts/login/",
            {"login": stranger, "password": "wrong-password"},  # (meant to fail)  # nosec
            token=token,
        )
        answers.append("Too many failed login attempts" in response.text)
    logins = [
        sum("POST /accounts/login/" in line for line in access_log_lines(app)[before[app - 1] :])
        for app in (1, 2)
    ]
    check(all(logins), f"the sign-ins did not reach both app servers: {logins}")
    check(answers == [False] * 5 + [True], f"five failures, then refused: got {answers}")
    ok(
        f"five failed sign-ins spread over both app servers ({logins[0]} + {logins[1]}), the "
        "sixth refused: the limit is counted in the shared Redis"
    )


# --- 4, 5: a payment through the Stripe path, its webhook twice, the worker's receipt -------------
def signed_in() -> requests.Session:
    session = browser()
    response = csrf_post(
        session, "/accounts/login/", {"login": RESIDENT, "password": DEMO_PASSWORD}
    )
    check(response.status_code == 302, f"sign-in: {response.status_code}")
    me = session.get(URL + "/me/")
    check(me.status_code == 200 and "¥" in me.text, f"/me/: {me.status_code}")
    return session


def pay_through_stripe(session: requests.Session) -> PaymentAttempt:
    resident = User.objects.get(email=RESIDENT)
    bill = (
        Bill.objects.filter(
            account__bindings__user=resident,
            account__bindings__ended_at=None,
            status=BillStatus.OPEN,
        )
        .order_by("due_date")
        .first()
    )
    check(bill, "the demo resident has no unpaid bill")
    response = csrf_post(session, "/pay/", {"bill": str(bill.uuid)})
    check(response.status_code == 302, f"choosing the bill on /pay/: {response.status_code}")
    page = session.get(URL + response.headers["Location"])
    check(page.status_code == 200 and 'id="payment-element"' in page.text, "no Stripe element")
    attempt = PaymentAttempt.objects.get(uuid=response.headers["Location"].split("/")[2])
    check(attempt.intent_id.startswith("pi_"), "no PaymentIntent at the provider")
    ok(f"{RESIDENT} signed in and opened the Stripe payment of {attempt.amount} CNY")

    # What the Payment Element does in the browser: the card confirmed at the provider.
    client = stripe_api.stripe_client()
    client.v1.payment_intents.update(attempt.intent_id, params={"payment_method": "pm_card_visa"})
    intent = client.v1.payment_intents.confirm(attempt.intent_id)
    check(intent.status == "succeeded", f"the intent is {intent.status}")
    event = {
        "id": f"evt_smoke_{secrets.token_hex(8)}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(clock.now().timestamp()),
        "livemode": False,
        "data": {"object": json.loads(str(intent))},
    }
    body = json.dumps(event).encode()
    cash_lines = LedgerLine.objects.filter(entry__reference=attempt.reference)
    for delivery in (1, 2):
        signature = gateways.signature_header(body, secret=settings.STRIPE_WEBHOOK_SECRET)
        answer = requests.post(
            URL + "/pay/webhooks/stripe/",
            data=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
            verify=str(CERT),
            timeout=10,
        )
        check(answer.status_code == 200, f"webhook {delivery}: {answer.status_code} {answer.text}")
        if delivery == 1:
            lines = cash_lines.count()
    attempt.refresh_from_db()
    bill.refresh_from_db()
    check(attempt.status == AttemptStatus.SUCCEEDED and bill.status == BillStatus.PAID, "not paid")
    check(lines > 0 and cash_lines.count() == lines, "the second webhook changed the ledger")
    totals = {}
    for entry, amount in LedgerLine.objects.values_list("entry_id", "amount"):
        totals[entry] = totals.get(entry, 0) + amount
    check(not [e for e, total in totals.items() if total], "an unbalanced ledger entry")
    ok(
        f"the webhook through nginx credited {attempt.reference} once (sent twice); "
        "the ledger balances"
    )
    return attempt


def worker_did_its_part(attempt: PaymentAttempt) -> None:
    receipt = wait_until(
        "the receipt's PDF rendered by a worker",
        lambda: Receipt.objects.filter(attempt=attempt).exclude(pdf="").first(),
    )
    result = wait_until(
        "the receipt's task marked done by its worker",
        lambda: DBTaskResult.objects.filter(
            task_path="payments.tasks.receipt_render", status="SUCCESSFUL"
        ).first(),
    )
    check(any("prodlocal-worker" in w for w in result.worker_ids), "no worker of ours ran it")
    ok(f"receipt {receipt.number}: PDF rendered by {result.worker_ids[-1]}")
    mail = wait_until(
        "the payment's e-mail through SMTP",
        lambda: [
            p
            for p in (STATE / "mail" / "new").glob("*")
            if attempt.reference in p.read_text(errors="replace")
        ],
    )
    ok(f"the payment's e-mail went through the SMTP server ({mail[0].name})")


# --- 6, 7: the scheduled jobs ---------------------------------------------------------------------
def reminder_count() -> int:
    return Notification.objects.filter(kind__in=["bill_due_soon", "bill_overdue"]).count()


def _report_figures(report: str) -> tuple[int, int]:
    """(bills due soon, new notifications for them) from send_bill_reminders' report, whose
    second line holds those two numbers in whichever language it speaks."""
    lines = [line for line in report.splitlines() if line.strip()]
    bills, new = (int(number) for number in re.findall(r"\d+", lines[1])[:2])
    return bills, new


def job_twice_at_once() -> None:
    # Arrange: the demo's unpaid bills fall due the day after tomorrow (this database is the
    # smoke test's own), so the morning reminders have work to do.
    Bill.objects.filter(status=BillStatus.OPEN).update(due_date=clock.today() + timedelta(days=2))
    before = reminder_count()
    runs = [
        subprocess.Popen(  # (fixed arguments)  # nosec
            [sys.executable, "manage.py", "send_bill_reminders"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    reports = [run.communicate(timeout=120)[0] for run in runs]
    check(all(run.returncode == 0 for run in runs), f"a run failed: {reports}")
    made = reminder_count() - before
    check(made > 0, "the demo has no bill to remind of")
    # Each reminder is keyed on its bill (and week): a second run at the same time finds the
    # key taken and goes on, so neither run fails and nobody is reminded twice. Both runs saw
    # every bill due (each report's first figures), and what they say they made adds up to
    # what was made: the work was shared between them, none of it done twice.
    due = Bill.objects.filter(status=BillStatus.OPEN).count()
    figures = [_report_figures(report) for report in reports]
    check(
        all(seen_due == due for seen_due, _ in figures),
        f"a run did not see the {due} bills due: {reports}",
    )
    check(sum(new for _, new in figures) == made, f"the runs' reports do not add up: {reports}")
    ok(
        f"send_bill_reminders twice at once: both saw the {due} bills due, "
        f"{' + '.join(str(new) for _, new in figures)} = {made} reminders, none twice"
    )

    from payments.tasks import send_bill_reminders_scheduled

    started = time.monotonic()
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(send_bill_reminders_scheduled.enqueue()))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = wait_until(
        "both scheduled runs finished by the workers",
        lambda: (
            all(
                DBTaskResult.objects.get(id=r.id).status in ("SUCCESSFUL", "FAILED")
                for r in results
            )
            and [DBTaskResult.objects.get(id=r.id) for r in results]
        ),
        seconds=60,
    )
    check(all(r.status == "SUCCESSFUL" for r in done), f"{[r.status for r in done]}")
    check(reminder_count() == before + made, "the scheduled runs reminded someone again")
    ok(
        f"the scheduled job enqueued twice: both run by the workers in "
        f"{time.monotonic() - started:.1f} s, "
        "nothing sent again"
    )


def scheduler_runs() -> None:
    import redis

    check(redis.Redis.from_url(settings.REDIS_URL).exists("crontask-lock"), "no scheduler lock")
    result = wait_until(
        "the every-minute job, enqueued by the scheduler, run by a worker",
        lambda: DBTaskResult.objects.filter(
            task_path="cms.tasks.publish_scheduled_scheduled", status="SUCCESSFUL"
        ).first(),
        seconds=75,
    )
    ok(f"the scheduler holds its lock; its every-minute job ran on {result.worker_ids[-1]}")


# --- 8: the read replica --------------------------------------------------------------------------
def replica_and_its_fallback(session: requests.Session) -> None:
    if "replica" not in settings.DATABASES:
        print("  --  no read replica (PROD_LOCAL_REPLICA=1 starts one)")
        return
    import psycopg

    replica = settings.DATABASES["replica"]
    dsn = " ".join(
        f"{key}={replica[name]}"
        for key, name in (("host", "HOST"), ("port", "PORT"), ("user", "USER"), ("dbname", "NAME"))
    )

    def bill_rows_read_on_the_replica() -> int:
        # The standby's own statistics: rows of the bills table its queries have read.
        with psycopg.connect(dsn, autocommit=True) as connection:
            return connection.execute(
                "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
                "FROM pg_stat_user_tables WHERE relname = 'payments_bill'"
            ).fetchone()[0]

    # This browser paid a moment ago: its pin cookie keeps it on the primary for
    # READ_REPLICA_MAX_LAG_SECONDS (it reads its own writes). Forget the pin, as the browser will
    # once it expires. Each app process asks the replica's lag at most every
    # READ_REPLICA_LAG_CHECK_SECONDS, and a lag measured just after an idle spell overstates it
    # (portal/core/replica.py): keep asking for the page until its reads arrive there.
    session.cookies.pop(PIN_COOKIE, None)
    before = bill_rows_read_on_the_replica()

    def bills_read_on_the_replica() -> bool:
        bills = session.get(URL + reverse("me:bills"))
        check(bills.status_code == 200, f"the bill list with the replica: {bills.status_code}")
        check(PIN_COOKIE not in bills.cookies, "a GET of the bill list pinned the browser")
        return bill_rows_read_on_the_replica() > before

    wait_until("the bill list's rows read on the replica", bills_read_on_the_replica, seconds=30)
    ok("the bill list read its bills on the replica")
    stop = [ROOT / "scripts" / "pg-replica", "stop"]
    subprocess.run(stop, check=True, capture_output=True)  # (fixed arguments)  # nosec
    for _ in range(3):
        bills = session.get(URL + reverse("me:bills"))
        check(bills.status_code == 200, f"the bill list with the replica down: {bills.status_code}")
    ok("the bill list with the replica stopped: read from the primary")


def main() -> int:
    print(f"prod-local smoke test against {URL}")
    try:
        page_through_nginx()
        rate_limit_across_app_servers()
        session = signed_in()
        attempt = pay_through_stripe(session)
        worker_did_its_part(attempt)
        job_twice_at_once()
        scheduler_runs()
        replica_and_its_fallback(session)
    except Failed as failure:
        print(f"FAIL {failure}")
        print(f"     logs: {STATE / 'log'}")
        return 1
    print("prod-local smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
