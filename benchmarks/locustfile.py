"""The load test's traffic (benchmarks/load.py runs it, headless, against `make prod-local`).

Three kinds of visitor, each a locust user with think time:

- ``Resident`` (most of them): signs in with a password (one of the load residents that
  benchmarks/load.py made), then reads the dashboard, the bill list, a bill, the usage chart, and
  now and then pays the oldest unpaid bill through the Stripe path: the pay page opens a
  PaymentIntent at the provider (localstripe), the card is confirmed there as the Payment Element
  would, and the provider's webhook (``payment_intent.succeeded``, signed with the endpoint
  secret) is delivered to /pay/webhooks/stripe/, as Stripe delivers it; then the payment's page.
- ``Visitor``: the public pages anonymous people read (home, notices, a notice).
- ``Staff``: one member of staff, signed in with a password and a TOTP code, reading the
  application queue and its overdue filter.
- ``SignIn`` (only in the burst, benchmarks/load.py): signs in once and stops.

No Django here: locust runs under gevent. What it needs comes from the environment:
LOAD_USERS (the JSON file benchmarks/load.py wrote), LOAD_CA (the TLS authority of prod-local),
STRIPE_API_BASE, STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET (prod-local's).
"""

import base64
import hashlib
import hmac
import itertools
import json
import os
import random
import re
import struct
import time

import requests
from locust import HttpUser, between, task
from locust.exception import StopUser

PEOPLE = json.loads(open(os.environ["LOAD_USERS"]).read())  # noqa: SIM115 (read once at start)
CA = os.environ["LOAD_CA"]
STRIPE_API = os.environ["STRIPE_API_BASE"].rstrip("/")
STRIPE_KEY = os.environ["STRIPE_SECRET_KEY"]
WEBHOOK_SECRET = os.environ["STRIPE_WEBHOOK_SECRET"]
_residents = itertools.cycle(PEOPLE["residents"])
# Each simulated person connects from an address of its own (all of 127/8 is this machine), as
# people do from their own networks: the sign-in limit per address (30 a minute) is the site's
# defence against one machine guessing passwords, and holds for the load test too.
_addresses = (f"127.0.{n // 250 + 1}.{n % 250 + 1}" for n in itertools.count())

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
BILL_LINK = re.compile(r'href="(/bills/[0-9a-f-]{36}/)"')
USAGE_LINK = re.compile(r'href="(/me/accounts/[0-9a-f-]{36}/usage/)"')
NOTICE_LINK = re.compile(r'href="(/notices/[a-z0-9-]+/)"')
OPEN_BILL = re.compile(r'name="bill" value="([0-9a-f-]{36})"')
CLIENT_SECRET = re.compile(r'data-client-secret="(pi_[A-Za-z0-9]+)_secret_')


def totp_code(secret: str, at: float | None = None) -> str:
    """RFC 6238 (SHA-1, 6 digits, 30 s), as an authenticator app computes it."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = struct.pack(">Q", int((at or time.time()) // 30))
    digest = hmac.new(key, counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


_totp_steps_used = set()


def fresh_totp_code(secret: str) -> str:
    """The code a person types: allauth refuses one already used, so someone who signed in
    moments ago waits for their app's next code, as a person would."""
    step = int(time.time() // 30)
    if (secret, step) in _totp_steps_used:
        time.sleep(30 - time.time() % 30 + 0.5)
        step = int(time.time() // 30)
    _totp_steps_used.add((secret, step))
    return totp_code(secret, at=step * 30)


def stripe_signature(body: bytes) -> str:
    """The Stripe-Signature header of a webhook delivery, as Stripe signs it."""
    timestamp = int(time.time())
    signed = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={signed.hexdigest()}"


class _FromAddress(requests.adapters.HTTPAdapter):
    """Connections from a given local address."""

    def __init__(self, address: str, **kwargs):
        self.address = address
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


class _Browser(HttpUser):
    abstract = True
    wait_time = between(0.5, 1.5)

    def on_start(self):
        self.client.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise win over verify
        self.client.verify = CA
        self.client.mount("https://", _FromAddress(next(_addresses)))
        self.client.headers["Accept-Language"] = "zh-hans"

    def post_form(self, path: str, data: dict, *, name: str) -> str:
        """A form's POST as the browser sends it (the token read from the form's page), which
        must answer with a redirect: where it leads. Anything else is a failure."""
        page = self.client.get(path, name=f"{name} (form)")
        token = TOKEN.search(page.text)
        with self.client.post(
            path,
            data={"csrfmiddlewaretoken": token.group(1) if token else "", **data},
            headers={"Referer": self.host + path},
            allow_redirects=False,
            name=name,
            catch_response=True,
        ) as answer:
            if answer.status_code != 302:
                answer.failure(f"{name}: {answer.status_code}, not a redirect")
                raise StopUser()
            return answer.headers["Location"]

    def sign_in(self, email: str, password: str) -> str:
        """Where the sign-in leads (the next step, or the page the person lands on)."""
        return self.post_form(
            "/accounts/login/", {"login": email, "password": password}, name="sign-in"
        )


class Resident(_Browser):
    weight = 6

    def on_start(self):
        super().on_start()
        person = next(_residents)
        self.sign_in(person["email"], PEOPLE["password"])
        self.bills: list[str] = []
        self.usage: list[str] = []
        self.dashboard()

    @task(4)
    def dashboard(self):
        page = self.client.get("/me/", name="dashboard")
        self.usage = USAGE_LINK.findall(page.text) or self.usage

    @task(3)
    def bill_list(self):
        page = self.client.get("/me/bills/", name="bill list")
        self.bills = BILL_LINK.findall(page.text) or self.bills

    @task(3)
    def bill(self):
        if self.bills:
            self.client.get(random.choice(self.bills), name="bill")  # nosec (not security)

    @task(1)
    def usage_chart(self):
        if self.usage:
            self.client.get(random.choice(self.usage), name="usage")  # nosec (not security)

    @task(1)
    def pay(self):
        page = self.client.get("/pay/", name="pay (choose)")
        bill = OPEN_BILL.search(page.text)
        if bill is None:
            return
        token = TOKEN.search(page.text).group(1)
        with self.client.post(
            "/pay/",
            data={"csrfmiddlewaretoken": token, "bill": bill.group(1)},
            headers={"Referer": self.host + "/pay/"},
            allow_redirects=False,
            name="pay (start)",
            catch_response=True,
        ) as chosen:
            if chosen.status_code != 302:
                chosen.failure(f"choosing the bill: {chosen.status_code}")
                return
            attempt = chosen.headers["Location"]
        page = self.client.get(attempt, name="pay (card page)")
        secret = CLIENT_SECRET.search(page.text)
        if secret is None:
            return
        intent = self._confirm_at_provider(secret.group(1))
        event = {
            "id": f"evt_load_{os.urandom(8).hex()}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": intent},
        }
        body = json.dumps(event).encode()
        self.client.post(
            "/pay/webhooks/stripe/",
            data=body,
            headers={
                "Stripe-Signature": stripe_signature(body),
                "Content-Type": "application/json",
            },
            name="webhook",
        )
        self.client.get(attempt + "done/", name="pay (done)")

    def _confirm_at_provider(self, intent_id: str) -> dict:
        """What the Payment Element does in the browser: the card confirmed at the provider."""
        started = time.perf_counter()
        intent = f"{STRIPE_API}/v1/payment_intents/{intent_id}"
        card = {"payment_method": "pm_card_visa"}
        answer = requests.post(intent, data=card, auth=(STRIPE_KEY, ""), timeout=30)
        if answer.ok:
            answer = requests.post(intent + "/confirm", auth=(STRIPE_KEY, ""), timeout=30)
        self.environment.events.request.fire(
            request_type="POST",
            name="provider: confirm the card",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=len(answer.content),
            exception=None if answer.ok else RuntimeError(answer.text[:200]),
            context={},
        )
        return answer.json()


class Visitor(_Browser):
    weight = 2

    def on_start(self):
        super().on_start()
        self.notices: list[str] = []

    @task(3)
    def home(self):
        self.client.get("/", name="home")

    @task(2)
    def notice_index(self):
        page = self.client.get("/notices/", name="notices")
        self.notices = NOTICE_LINK.findall(page.text) or self.notices

    @task(2)
    def notice(self):
        if self.notices:
            self.client.get(random.choice(self.notices), name="notice")  # nosec (not security)


class Staff(_Browser):
    fixed_count = 1

    def on_start(self):
        super().on_start()
        staff = PEOPLE["staff"]
        second_step = self.sign_in(staff["email"], PEOPLE["demo_password"])
        # The authenticator app's code.
        code = fresh_totp_code(staff["totp_secret"])
        self.post_form(second_step, {"code": code}, name="sign-in, TOTP")

    @task(3)
    def queue(self):
        self.client.get("/cms-admin/applications/", name="staff queue")

    @task(1)
    def overdue(self):
        self.client.get("/cms-admin/applications/?overdue=1", name="staff queue, overdue")


class SignIn(_Browser):
    """The burst: a resident signs in once (the dashboard it lands on included), then leaves."""

    wait_time = between(3600, 3600)

    def on_start(self):
        super().on_start()
        person = next(_residents)
        landing = self.sign_in(person["email"], PEOPLE["password"])
        self.client.get(landing, name="burst: landing page")
        raise StopUser()

    @task
    def nothing(self):  # locust needs a task
        pass
