"""No secret reaches the logs: every record any logger emits, at DEBUG and up, is captured while
real flows run through the test client, written out as production writes it (JsonFormatter) and
as development does (the plain format), and searched for every secret the flow handled: the
password, one-time codes, tokens, the reset code, the Authorization header, the webhook secret
and signature, SECRET_KEY, AUDIT_KEY and the Stripe keys.

Every logger is turned to DEBUG for the test (the root and each one LOGGING or a library
named), more than production ever logs (INFO), so a secret written "only at DEBUG" is caught
too; what is captured is what the site's own handler would write, through its filters (the
request id, and ``UnsafeDebugFilter``, which keeps out the DEBUG records of Django's template
engine and Stripe's SDK: they dump template contexts and API bodies). The capture proves itself
before each test, and each test checks it saw the lines its flow is known to log, so it cannot
pass by capturing nothing. Runs on SQLite and on PostgreSQL.
"""

import json
import logging
import re
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from payments import gateways
from payments.gateways import stripe_api
from payments.models import AttemptStatus, PaymentAttempt, Tariff
from portal.core.logging import JsonFormatter, RequestContextFilter, UnsafeDebugFilter
from portal.integration import integration_client_create
from portal.models import Binding, IntegrationScope, Membership
from tests.factories import (
    PASSWORD,
    BillFactory,
    BindingFactory,
    MembershipFactory,
    ServiceAccountFactory,
    UserFactory,
)
from tests.payments.conftest import localstripe_url  # noqa: F401 (a fixture)
from tests.payments.conftest import stripe_settings as stripe_settings  # a fixture
from tests.payments.test_pay_pages import attempt_url, choose, press
from tests.payments.test_webhooks import bill_attempt, deliver, sign, stripe_event
from tests.portal.test_binding import _request_code
from tests.portal.test_integration_api import URL as ACCOUNTS_API
from tests.portal.test_integration_api import jsonl_body
from tests.portal.test_invitations import INVITED, admin_of, members_page, signed_in

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Teapot-Glacier-Orchard-77"
# Stripe's test card. No flow of the portal handles a card number (card data stays in Stripe's
# frames in the browser), so it must never appear whatever happens.
TEST_CARD = "4242424242424242"


def site_handler() -> logging.Handler:
    """The handler LOGGING writes every line through (portal/settings/base.py)."""
    [console] = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    return console


class Capture(logging.Handler):
    """Writes what the site's handler writes: its filters (the request id; DEBUG records known
    to carry secrets are dropped there), then each record as the JSON line production writes
    and the plain line development writes."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        for site_filter in site_handler().filters:
            self.addFilter(site_filter)
        self.json = JsonFormatter()
        self.plain = logging.Formatter(django_settings.LOGGING["formatters"]["plain"]["format"])
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []

    def emit(self, record):
        self.records.append(record)
        self.lines.append(self.json.format(record))
        self.lines.append(self.plain.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)

    def messages(self, logger: str = "", *, response=None) -> list[str]:
        """What ``logger`` (and its children) logged; with ``response``, only while the request
        that answered it was served (the lines carrying its X-Request-ID)."""
        return [
            record.getMessage()
            for record in self.records
            if record.name.startswith(logger)
            and (response is None or record.request_id == response["X-Request-ID"])
        ]


@pytest.fixture
def logs() -> Iterator[Capture]:
    """Every record of every logger at DEBUG, for the length of the test."""
    capture = Capture()
    root = logging.getLogger()
    loggers = [root] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    levels = {logger: logger.level for logger in loggers}
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        if logger is root or not logger.propagate:
            logger.addHandler(capture)
    # Loggers created from here on inherit DEBUG from the root.
    try:
        # The capture works: a DEBUG record of a logger LOGGING sets to WARNING is written.
        logging.getLogger("django.tasks").debug("log capture check")
        assert capture.messages() == ["log capture check"]
        capture.records.clear()
        capture.lines.clear()
        yield capture
    finally:
        for logger, level in levels.items():
            logger.setLevel(level)
            logger.removeHandler(capture)


@pytest.fixture(autouse=True)
def _keys(settings):
    """Fresh, recognisable secrets for the site's keys, so a leak of any of them is found."""
    settings.SECRET_KEY = "sk-django-" + secrets.token_urlsafe(40)
    settings.AUDIT_KEY = "audit-" + secrets.token_urlsafe(40)
    settings.STRIPE_WEBHOOK_SECRET = "whsec_" + secrets.token_hex(24)


def site_secrets() -> list[str]:
    """The keys the site runs with now: Django's, the audit chain's, Stripe's and the webhook
    secret (Stripe's endpoint secret, or the local gateway's derived one)."""
    values = [
        django_settings.SECRET_KEY,
        django_settings.AUDIT_KEY,
        django_settings.STRIPE_WEBHOOK_SECRET,
        gateways.webhook_secret(),
    ]
    if django_settings.STRIPE_SECRET_KEY:
        values.append(django_settings.STRIPE_SECRET_KEY)
    return values


def assert_no_secret(logs: Capture, *found: str) -> None:
    """None of the site's keys, nor any of ``found`` (the flow's own secrets), nor a card
    number, appears in any captured line, as a whole value or JSON-escaped."""
    text = logs.text()
    for value in [*site_secrets(), *found, TEST_CARD]:
        assert value, "an empty secret proves nothing"
        for form in {value, json.dumps(value)[1:-1]}:
            if value.isdigit():  # a numeric code: not as part of a longer number
                assert not re.search(rf"(?<!\d){re.escape(form)}(?!\d)", text), value
            else:
                where = sorted({r.name for r in logs.records if form in logs.json.format(r)})
                assert form not in text, f"{value!r} is in the log of {where}"


# --- Signing in ---------------------------------------------------------------------------------


def test_password_sign_ins_refused_and_accepted_log_no_password(client, logs):
    user = UserFactory()
    wrong = "Wrong-" + secrets.token_urlsafe(12)
    login = reverse("account_login")

    refused = client.post(login, {"login": user.email, "password": wrong})
    signed = client.post(login, {"login": user.email, "password": PASSWORD})
    # A sign-in form posted without its CSRF cookie: Django logs the refusal.
    forged = Client(enforce_csrf_checks=True).post(
        login, {"login": user.email, "password": PASSWORD}
    )

    assert (refused.status_code, signed.status_code, forged.status_code) == (200, 302, 403)
    assert logs.messages("django.security.csrf", response=forged) == [
        f"Forbidden (CSRF cookie not set.): {login}"
    ]
    assert_no_secret(logs, PASSWORD, wrong)


def test_a_sign_in_code_by_email_is_not_logged(client, logs, mail_code):
    user = UserFactory()

    sent = client.post(reverse("account_request_login_code"), {"email": user.email})
    code = mail_code(user.email)
    response = client.post(reverse("account_confirm_login_code"), {"code": code})

    assert response.status_code == 302 and response["Location"] == reverse("me:dashboard")
    assert mail_task_logged(logs, sent)
    assert_no_secret(logs, code, code.replace("-", ""))


def test_a_password_reset_logs_neither_its_code_nor_the_new_password(client, logs, mail_code):
    user = UserFactory()

    sent = client.post(reverse("account_reset_password"), {"email": user.email})
    code = mail_code(user.email)
    client.post(reverse("account_confirm_password_reset_code"), {"code": code})
    response = client.post(
        reverse("account_complete_password_reset"),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert mail_task_logged(logs, sent)
    assert_no_secret(logs, code, code.replace("-", ""), NEW_PASSWORD)


def mail_task_logged(logs: Capture, response) -> bool:
    """The e-mail the request sent went through the task queue, which logs each task."""
    return any(
        "portal.tasks.email_deliver" in m for m in logs.messages("django.tasks", response=response)
    )


# --- Proving an electricity account -------------------------------------------------------------


@pytest.mark.parametrize("channel", ["phone_code", "email_code"])
def test_a_binding_code_is_not_logged(
    client, logs, channel, sms_messages, mailoutbox, django_capture_on_commit_callbacks
):
    user = UserFactory()
    client.force_login(user)
    account = ServiceAccountFactory()

    with django_capture_on_commit_callbacks(execute=True):
        response = _request_code(client, account.number, channel)
    if channel == "phone_code":
        body = sms_messages(account.phone)[-1]["body"]
    else:
        body = mailoutbox[-1].body
        assert any("email_deliver" in m for m in logs.messages("django.tasks"))
    code = re.search(r"\b(\d{6})\b", body).group(1)
    client.post(response["Location"], {"code": code, "label": "家"})

    assert Binding.objects.filter(user=user, account=account).exists()
    assert_no_secret(logs, code)


# --- Joining an organisation --------------------------------------------------------------------


def test_an_invitation_token_is_not_logged(logs, mailoutbox, django_capture_on_commit_callbacks):
    admin = admin_of(MembershipFactory(role="admin").organisation)
    with django_capture_on_commit_callbacks(execute=True):
        signed_in(admin.user).post(
            members_page(admin.organisation), {"email": INVITED, "role": "member"}
        )
    path = urlsplit(re.search(r"https?://\S+/org/invitations/\S+/", mailoutbox[-1].body)[0]).path
    token = path.rstrip("/").rsplit("/", 1)[1]
    invitee = signed_in(UserFactory(email=INVITED))

    invitee.get(path)
    invitee.post(path)

    assert Membership.objects.filter(user__email=INVITED).exists()
    assert any("email_deliver" in m for m in logs.messages("django.tasks"))
    assert_no_secret(logs, token)


# --- Paying -------------------------------------------------------------------------------------


def test_a_local_gateway_payment_and_its_webhooks_log_no_secret_or_signature(client, logs):
    # Through the local test gateway's page: it signs its event with the webhook secret.
    _bill, attempt = bill_attempt()
    client.force_login(attempt.created_by)
    assert press(client, attempt, "succeed").status_code == 302
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == AttemptStatus.SUCCEEDED

    # As the provider delivers: a signed event, then the same signature on a tampered body.
    _bill, other = bill_attempt()
    body = stripe_event("payment_intent.succeeded", other)
    signature = sign(body)
    assert deliver(body, signature).status_code == 200
    tampered = deliver(body.replace(b"succeeded", b"canceled"), signature)

    assert tampered.status_code == 400
    assert logs.messages("django.request", response=tampered) == [
        "Bad Request: /pay/webhooks/stripe/"
    ]
    assert_no_secret(logs, signature, signature.split("v1=", 1)[1])


def test_a_stripe_payment_logs_no_key_and_no_client_secret(logs, stripe_settings):
    stripe_settings.STRIPE_SECRET_KEY = "sk_test_" + secrets.token_hex(16)
    client = Client(headers={"accept-language": "en"})
    user = UserFactory()
    client.force_login(user)
    bill = BillFactory(account=BindingFactory(user=user).account)

    attempt = choose(client, bill)
    page = client.get(attempt_url("attempt", attempt))
    attempt.refresh_from_db()
    client_secret = re.search(r"pi_\w+_secret_\w+", page.content.decode())[0]
    # What the Payment Element does in the browser, outside the portal (so not captured):
    # confirm the payment with a card.
    logs.setLevel(logging.CRITICAL + 1)
    sdk = stripe_api.stripe_client()
    sdk.v1.payment_intents.update(attempt.intent_id, params={"payment_method": "pm_card_visa"})
    sdk.v1.payment_intents.confirm(attempt.intent_id)
    logs.setLevel(logging.DEBUG)
    done = client.get(attempt_url("done", attempt))

    assert done.status_code == 200
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == AttemptStatus.SUCCEEDED
    # The SDK's INFO lines (a request and its status) are written; its DEBUG bodies are not.
    asked = logs.messages("stripe", response=done)
    assert any(m.startswith("message='Request to Stripe api'") for m in asked)
    assert_no_secret(logs, client_secret, client_secret.split("_secret_", 1)[1])


# --- The integration API ------------------------------------------------------------------------


def test_an_integration_call_logs_neither_its_bearer_token_nor_the_header(logs):
    Tariff.objects.create(code="RES-TIER", name="居民阶梯电价")
    Tariff.objects.create(code="LV-BIZ", name="一般工商业电价")
    _client, token = integration_client_create(
        name="CIS production", scopes=[IntegrationScope.ACCOUNTS_WRITE]
    )
    api = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    header = f"Bearer {token}"
    wrong = token[:-4] + "zzzz"

    def call(authorization: str):
        return api.post(
            ACCOUNTS_API,
            data=jsonl_body(),
            content_type="application/x-ndjson",
            HTTP_AUTHORIZATION=authorization,
        )

    good, refused = call(header), call(f"Bearer {wrong}")

    assert (good.status_code, refused.status_code) == (200, 401)
    assert logs.messages("django.request", response=refused) == [f"Unauthorized: {ACCOUNTS_API}"]
    assert_no_secret(logs, header, token, token.rsplit("_", 1)[1], wrong)


# --- The filter that keeps them out -------------------------------------------------------------


def test_the_sites_handler_drops_debug_records_that_dump_contexts_and_bodies():
    handler = site_handler()
    assert any(isinstance(f, RequestContextFilter) for f in handler.filters)
    assert any(isinstance(f, UnsafeDebugFilter) for f in handler.filters)

    def written(name: str, level: int) -> bool:
        record = logging.LogRecord(name, level, __file__, 1, "context", None, None)
        return bool(handler.filter(record))

    assert not written("django.template", logging.DEBUG)
    assert not written("stripe", logging.DEBUG)
    assert written("stripe", logging.INFO)  # a request to Stripe and its status
    assert written("django.template", logging.WARNING)
    assert written("powerhall.jobs", logging.DEBUG)
    assert written("stripes", logging.DEBUG)  # another logger, not a child of "stripe"
