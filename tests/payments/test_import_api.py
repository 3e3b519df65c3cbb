"""The integration API's bill and payment imports, `POST /api/integration/v1/bills` and
`/payments` (portal/integration_api.py; docs/integration.md): the same services as the commands,
behind a bearer token with the `bills:write` scope."""

import hashlib
import json
from datetime import date
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import translation

from payments.models import Bill, BillStatus, OutsidePayment
from portal.integration import integration_client_create
from portal.models import AuditEvent, IntegrationClient, IntegrationScope
from tests.factories import ServiceAccountFactory

pytestmark = pytest.mark.django_db

BILLS = "/api/integration/v1/bills"
PAYMENTS = "/api/integration/v1/payments"
NDJSON = "application/x-ndjson"
PROBLEM = "application/problem+json"
STRICT_REFUSED = "/api/integration/v1/problems/strict-refused"
ACCOUNT = "3100050001"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def account():
    return ServiceAccountFactory(number=ACCOUNT)


@pytest.fixture
def api():
    """A client as the billing system is: no session, no CSRF cookie, and CSRF enforced."""
    return Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def token():
    _client, token = integration_client_create(
        name="CIS production", scopes=[IntegrationScope.BILLS_WRITE]
    )
    return token


def post(api, url, body: bytes, token=None, query=""):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return api.post(url + query, data=body, content_type=NDJSON, **headers)


def problem(response, status: int, type: str = "about:blank") -> dict:
    """The RFC 9457 problem document the API answered with ``status``."""
    assert response.status_code == status
    assert response["Content-Type"] == PROBLEM
    document = response.json()
    assert (document["type"], document["status"]) == (type, status)
    return document


def jsonl(*records: dict) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def bill(number="B202610001", **overrides) -> dict:
    return {
        "bill_number": number,
        "account_number": ACCOUNT,
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "issue_date": "2026-11-05",
        "due_date": "2026-11-20",
        "kwh": "260",
        "amount": "128.46",
        "tariff_code": "RES-TIER-M",
        "lines": [
            {"kind": "tier", "label": "第一档", "kwh": "230", "unit_price": "0.4883",
             "amount": "112.31"},
            {"kind": "tier", "label": "第二档", "kwh": "30", "unit_price": "0.5383",
             "amount": "16.15"},
        ],
    } | overrides  # fmt: skip


def payment(reference="CIS-PAY-1", **overrides) -> dict:
    return {
        "payment_reference": reference,
        "bill_number": "B202610001",
        "amount": "128.46",
        "paid_at": "2026-11-12T10:15:00+08:00",
        "channel": "bank_debit",
    } | overrides


# --- Authentication and scope -------------------------------------------------------------------


@pytest.mark.parametrize("url", [BILLS, PAYMENTS])
def test_without_a_token_the_answer_is_401(api, url):
    response = post(api, url, jsonl(bill()))

    problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not Bill.objects.exists()


@pytest.mark.parametrize("url", [BILLS, PAYMENTS])
def test_a_client_with_only_the_accounts_scope_is_403(api, url):
    _client, token = integration_client_create(name="Accounts only", scopes=["accounts:write"])

    response = post(api, url, jsonl(bill()), token)

    assert "bills:write" in problem(response, 403)["detail"]
    assert not Bill.objects.exists()


def test_the_bills_scope_does_not_open_the_accounts_import(api, token):
    response = post(api, "/api/integration/v1/accounts", b"{}\n", token)

    assert response.status_code == 403


def test_a_signed_in_superuser_session_is_not_enough(api, django_user_model):
    api.force_login(django_user_model.objects.create_superuser("root@example.cn", "x" * 16))

    assert post(api, BILLS, jsonl(bill())).status_code == 401


# --- Bills --------------------------------------------------------------------------------------


def test_bills_are_imported_and_reported(api, token):
    body = jsonl(bill(), bill("B2", account_number="3100099999"))

    response = post(api, BILLS, body, token, query="?file_name=bills-202611.jsonl")

    assert response.status_code == 200
    report = response.json()
    assert (report["created"], report["rejected"], report["committed"]) == (1, 1, True)
    assert report["errors"] == [
        {"line": 2, "reason": "account 3100099999 is not known: import the account first"}
    ]
    assert (report["replaced"], report["adjusted"], report["cancelled"]) == (0, 0, 0)
    assert report["sha256"] == hashlib.sha256(body).hexdigest()
    assert Bill.objects.get().lines.count() == 2
    (event,) = AuditEvent.objects.filter(action="bills.imported")
    data = json.loads(event.data)
    assert (data["client"], data["file"]) == ("CIS production", "bills-202611.jsonl")
    assert event.actor_role == "integration"
    assert event.object_ref == f"portal.integrationclient:{IntegrationClient.objects.get().uuid}"


def test_a_new_amount_sent_again_is_reported_as_replaced(api, token):
    post(api, BILLS, jsonl(bill()), token)

    report = post(api, BILLS, jsonl(bill(amount="120.00", lines=None)), token).json()

    assert (report["updated"], report["replaced"]) == (1, 1)
    assert Bill.objects.get().amount == Decimal("120.00")


def test_strict_bills_import_nothing_and_answer_422(api, token):
    response = post(api, BILLS, jsonl(bill(), bill("B2", amount="1.001")), token, "?strict=true")

    report = problem(response, 422, type=STRICT_REFUSED)
    assert (report["committed"], report["rejected"], report["created"]) == (False, 1, 0)
    assert report["errors"][0]["line"] == 2
    assert report["replaced"] == 0  # the bill report's own members are there too
    assert not Bill.objects.exists()
    assert not AuditEvent.objects.filter(action="bills.imported").exists()


def test_a_strict_refusal_quoting_a_lone_surrogate_is_still_a_problem_document(api, token):
    body = jsonl(bill()).replace(b'"128.46"', b'"1\\ud800"')

    response = post(api, BILLS, body, token, "?strict=true")

    assert problem(response, 422, type=STRICT_REFUSED)["errors"][0]["line"] == 1
    assert not Bill.objects.exists()


def test_an_unreadable_body_is_400(api, token):
    response = post(api, BILLS, jsonl(bill()).decode().encode("utf-16"), token)

    assert "neither UTF-8 nor GBK" in problem(response, 400)["detail"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"bill_number": ' + b"9" * 5000 + b"}\n",
        b'{"bill_number": "\\ud800"}\n',
        b"[" * 100_000 + b"\n",
        b"\x00\xff\xfe{]\n",
    ],
    ids=["5000 digits", "lone surrogate", "100000 brackets", "garbage"],
)
def test_a_hostile_body_is_answered_in_json_never_with_a_page(api, token, body):
    response = post(api, BILLS, body, token)

    # The import runner reports such rows (a 200 report); whatever it does, the answer is JSON.
    assert response["Content-Type"].split(";")[0] in ("application/json", PROBLEM)
    assert "status" in response.json() or "rows" in response.json()
    assert b"<html" not in response.content.lower()


# --- Payments -----------------------------------------------------------------------------------


def test_payments_are_posted_once_however_often_they_are_sent(api, token):
    post(api, BILLS, jsonl(bill()), token)

    first = post(api, PAYMENTS, jsonl(payment()), token)
    second = post(api, PAYMENTS, jsonl(payment()), token)

    assert first.status_code == second.status_code == 200
    assert (first.json()["created"], second.json()["unchanged"]) == (1, 1)
    (outside,) = OutsidePayment.objects.all()
    assert outside.entry.effective_date == date(2026, 11, 12)
    assert Bill.objects.get().status == BillStatus.PAID
    assert AuditEvent.objects.filter(action="payments.imported").count() == 2


def test_strict_payments_import_nothing_and_answer_422(api, token):
    post(api, BILLS, jsonl(bill()), token)

    response = post(
        api, PAYMENTS, jsonl(payment(), payment("CIS-PAY-2", bill_number="B0")), token,
        "?strict=true",
    )  # fmt: skip

    assert problem(response, 422, type=STRICT_REFUSED)["rejected"] == 1
    assert not OutsidePayment.objects.exists()


# --- The schema ---------------------------------------------------------------------------------


def test_the_schema_lists_both_imports_with_the_bearer_scheme(api):
    schema = api.get("/api/integration/v1/openapi.json").json()

    for path in ("/api/integration/v1/bills", "/api/integration/v1/payments"):
        operation = schema["paths"][path]["post"]
        assert set(operation["requestBody"]["content"]) == {NDJSON, "application/jsonl"}
        assert {"200", "401", "403", "413", "422", "429"} <= set(operation["responses"])
        assert operation["security"] == [{"ClientToken": []}]
        refused = operation["responses"]["422"]["content"][PROBLEM]["schema"]["anyOf"]
        assert {"$ref": "#/components/schemas/InvalidRequestProblem"} in refused
