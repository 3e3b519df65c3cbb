"""Guessing is limited across app servers: two gunicorn processes share the test's PostgreSQL
database and Redis, as production's app servers do, and an attacker who spreads the guesses over
both is stopped as soon as one server alone would stop them. Password sign-in, sign-in codes
(guessing one, and asking for many), binding proofs and receipt verification.

Processes that share nothing but PostgreSQL and Redis are the point, so without both (the
embedded default's SQLite and per-process cache) the test is skipped: the PostgreSQL CI run sets
REDIS_URL.
"""

import itertools
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from allauth.account.adapter import get_adapter
from bs4 import BeautifulSoup
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import translation

from payments import checkout
from payments.receipts import VERIFY_LIMIT_PER_IP
from portal.core.errors import BindingRefused, RateLimited
from portal.models import Binding
from tests.factories import PASSWORD, ServiceAccountFactory, UserFactory
from tests.payments.test_checkout import local_pay, own_bill

ROOT = Path(__file__).resolve().parents[2]


def _shared_services() -> str | None:
    """Why the test cannot run here, or None."""
    if not settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        return "needs Redis shared by the app servers: set REDIS_URL (the PostgreSQL CI run does)"
    if connection.vendor != "postgresql":
        return "needs PostgreSQL shared by the app servers: set DATABASE_URL to a PostgreSQL server"
    return None


CANNOT_RUN = _shared_services()
pytestmark = [
    pytest.mark.any_date,
    pytest.mark.skipif(CANNOT_RUN is not None, reason=CANNOT_RUN or ""),
    pytest.mark.django_db(transaction=True),
]


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("app-servers")


@pytest.fixture(scope="module")
def servers(django_db_setup, var_dir):
    """Two app servers (gunicorn, one worker each) on the test database and the test's Redis."""
    cache = settings.CACHES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.portal.server_settings",
        "DATABASE_URL": _database_url(),
        "DATABASE_CONN_MAX_AGE": "0",
        "REDIS_URL": cache["LOCATION"],
        "CACHE_KEY_PREFIX": cache.get("KEY_PREFIX", ""),
        "SECRET_KEY": settings.SECRET_KEY,
        "AUDIT_KEY": settings.AUDIT_KEY,
        "POWERHALL_VAR_DIR": str(var_dir),
        "TRUSTED_PROXY_HOPS": "0",
    }
    started = []
    try:
        for _ in range(2):
            port = _free_port()
            process = subprocess.Popen(  # noqa: S603 - our own fixed command line
                [sys.executable, "-m", "gunicorn", "portal.wsgi", "--workers", "1"]
                + ["--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=(var_dir / f"gunicorn-{port}.log").open("w"),
            )
            started.append((process, f"http://127.0.0.1:{port}"))
        for process, url in started:
            _wait_until_up(process, url)
        yield [url for _process, url in started]
    finally:
        for process, _url in started:
            process.terminate()
            process.wait(timeout=30)


def _wait_until_up(process, url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app server at {url} stopped at start-up")
        try:
            if requests.get(f"{url}/healthz", timeout=30).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the app server at {url} did not answer within a minute")


class Attacker:
    """One browser (one cookie jar) whose requests go to the two servers in turn."""

    def __init__(self, servers):
        self.session = requests.Session()
        self.servers = itertools.cycle(servers)

    def get(self, path: str) -> requests.Response:
        return self.session.get(next(self.servers) + path, allow_redirects=False, timeout=30)

    def post(self, path: str, data: dict) -> requests.Response:
        if "csrftoken" not in self.session.cookies:
            self.get(reverse("account_login"))
        token = {"csrfmiddlewaretoken": self.session.cookies["csrftoken"]}
        url = next(self.servers) + path
        return self.session.post(url, data | token, allow_redirects=False, timeout=30)

    def signed_in(self) -> bool:
        return self.get(reverse("me:dashboard")).status_code == 200


def _text(response) -> str:
    return BeautifulSoup(response.text, "html.parser").get_text(" ", strip=True)


def _chinese(message) -> str:
    with translation.override("zh-hans"):
        return str(message)


def _sign_in(attacker, email: str, password: str) -> requests.Response:
    return attacker.post(reverse("account_login"), {"login": email, "password": password})


def test_password_guesses_spread_over_two_servers_lock_the_account(servers):
    user = UserFactory()
    attacker = Attacker(servers)

    # ACCOUNT_RATE_LIMITS["login_failed"]: 5 failures per account in 5 minutes.
    guesses = [_sign_in(attacker, user.email, f"Guess-number-{n}-xyz") for n in range(5)]
    right = _sign_in(attacker, user.email, PASSWORD)

    assert [g.status_code for g in guesses] == [200] * 5
    assert right.status_code == 200
    assert _chinese(get_adapter().error_messages["too_many_login_attempts"]) in _text(right)
    assert not attacker.signed_in()


def _codes_sent(var_dir, email: str, one_time_code) -> list[str]:
    """The sign-in codes e-mailed to ``email`` by either server, oldest first."""
    files = sorted((var_dir / "mail").glob("*"), key=lambda f: f.stat().st_mtime_ns)
    messages = [m for f in files for m in f.read_text(errors="replace").split("-" * 79)]
    return [one_time_code(m) for m in messages if email in m and one_time_code(m)]


def test_guessing_a_sign_in_code_over_two_servers_ends_it(servers, var_dir, one_time_code):
    user = UserFactory()
    attacker = Attacker(servers)
    assert attacker.post(reverse("account_request_login_code"), {"email": user.email}).ok
    [code] = _codes_sent(var_dir, user.email, one_time_code)

    # ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS: three wrong codes end the code.
    for wrong in ("AAAA-AAAA", "BBBB-BBBB", "CCCC-CCCC"):
        attacker.post(reverse("account_confirm_login_code"), {"code": wrong})
    attacker.post(reverse("account_confirm_login_code"), {"code": code})

    assert not attacker.signed_in()


def test_asking_for_many_sign_in_codes_over_two_servers_is_limited(servers, var_dir, one_time_code):
    user = UserFactory()

    # ACCOUNT_RATE_LIMITS["request_login_code"]: 3 a minute for one address, each from a fresh
    # browser, alternately on each server.
    for _ in range(4):
        Attacker(servers).post(reverse("account_request_login_code"), {"email": user.email})

    assert len(_codes_sent(var_dir, user.email, one_time_code)) == 3


def test_binding_guesses_spread_over_two_servers_are_limited(servers):
    account = ServiceAccountFactory(holder_name="刘洋", meter_number="110203041234")
    attacker = Attacker(servers)
    assert _sign_in(attacker, UserFactory().email, PASSWORD).status_code == 302

    def bind(holder):
        proof = {
            "method": "holder",
            "holder-number": account.number,
            "holder-holder_name": holder,
            "holder-meter_last4": "1234",
        }
        return _text(attacker.post(reverse("me:bind"), proof))

    # BINDING_LIMIT_PER_NUMBER: 5 attempts an hour on one account number, whoever makes them.
    guesses = [bind(holder) for holder in ("王伟", "李娜", "张敏", "刘伟", "陈静")]
    right = bind("刘洋")

    refused = _chinese(BindingRefused.default_message)
    assert all(refused in page for page in guesses)
    assert _chinese(RateLimited.default_message) in right
    assert not Binding.objects.filter(account=account).exists()


def test_receipt_lookups_spread_over_two_servers_are_limited(servers):
    customer = UserFactory()
    attempt = checkout.attempt_create(user=customer, bill_uuids=[own_bill(customer).uuid])
    local_pay(attempt)
    token = attempt.receipts.get().token
    visitor = Attacker(servers)

    guesses = [
        visitor.get(reverse("receipts:verify", args=[f"guess-{n}"])).status_code
        for n in range(VERIFY_LIMIT_PER_IP)
    ]
    genuine = visitor.get(reverse("receipts:verify", args=[token]))

    assert guesses == [404] * VERIFY_LIMIT_PER_IP
    assert genuine.status_code == 429
