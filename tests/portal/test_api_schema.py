"""The integration API against its own OpenAPI schema (portal/integration_api.py, payments/api.py,
cms/api.py; docs/integration.md "Errors"): every answer it can give is in the schema, every
example in the schema is accepted, and schemathesis, generating requests from the schema with a
valid token, finds no server error and no answer the schema does not describe."""

import json
from datetime import datetime
from urllib.parse import urlencode

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from django.test import Client
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cms.models import NoticePage
from payments.invoices import invoice_request_create
from payments.models import Bill, InvoiceRequest, OutsidePayment, Tariff
from portal.core import clock
from portal.integration import integration_client_create
from portal.models import IntegrationScope, ServiceAccount
from portal.wsgi import application
from tests.factories import UserFactory
from tests.payments.test_invoices import DETAILS, paid_by

pytestmark = pytest.mark.django_db

PREFIX = "/api/integration/v1"
SCHEMA_URL = f"{PREFIX}/openapi.json"
PROBLEM = "application/problem+json"
# The order a billing system would follow: an account before its bill, a bill before its payment.
OPERATIONS = (
    "accounts_import",
    "bills_import",
    "payments_import",
    "payments_export",
    "invoice_status_set",
    "outage_submit",
)
# Every operation can answer these besides its own.
COMMON_PROBLEMS = {"401", "403", "429", "500"}


@pytest.fixture
def token(settings):
    settings.INTEGRATION_API_RATE_LIMIT = 10_000
    _client, token = integration_client_create(name="CIS", scopes=list(IntegrationScope.values))
    return token


@pytest.fixture
def served():
    return Client().get(SCHEMA_URL).json()


def operations(schema: dict):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


# --- The schema says what the API answers ---------------------------------------------------------


def test_the_problem_schema_is_a_named_component(served):
    problem = served["components"]["schemas"]["Problem"]

    assert {"type", "title", "status", "detail"} <= set(problem["required"])


def test_every_error_of_every_operation_is_a_problem_document_in_the_schema(served):
    assert sorted(op["operationId"] for _p, _m, op in operations(served)) == sorted(OPERATIONS)
    for path, method, operation in operations(served):
        responses = operation["responses"]
        assert COMMON_PROBLEMS | {"422"} <= set(responses), (path, method)
        for status, response in responses.items():
            (content_type,) = response["content"]
            if int(status) < 400:
                assert content_type == "application/json"
                continue
            assert content_type == PROBLEM, (path, method, status)
            schema = response["content"][PROBLEM]["schema"]
            refs = [schema.get("$ref")] + [one["$ref"] for one in schema.get("anyOf", [])]
            assert any(ref and ref.endswith("Problem") for ref in refs), (path, method, status)
        assert "Retry-After" in responses["429"]["headers"]
        assert "WWW-Authenticate" in responses["401"]["headers"]


def test_the_imports_list_the_answers_of_a_body(served):
    for name in ("accounts", "bills", "payments"):
        responses = served["paths"][f"{PREFIX}/{name}"]["post"]["responses"]
        assert {"200", "400", "413", "415", "422"} <= set(responses)


# --- Every example in the schema is accepted ------------------------------------------------------


def body_example(operation: dict):
    """The request body's example (the first one, of the first content type that has one)."""
    for content_type, media in operation.get("requestBody", {}).get("content", {}).items():
        if "example" in media:
            return content_type, media["example"]
        if "example" in media.get("schema", {}):
            return content_type, media["schema"]["example"]
        for example in media.get("examples", {}).values():
            return content_type, example["value"]
    return None


def parameter_examples(operation: dict) -> dict[str, dict]:
    found: dict[str, dict] = {"path": {}, "query": {}}
    for parameter in operation.get("parameters", []):
        if "example" in parameter:
            found[parameter["in"]][parameter["name"]] = parameter["example"]
        for example in parameter.get("examples", {}).values():
            found[parameter["in"]][parameter["name"]] = example["value"]
            break
    return found


def invoice_request_with_uuid(uuid: str) -> None:
    """The VAT invoice request the invoice example answers, with the example's UUID."""
    customer = UserFactory()
    invoice = invoice_request_create(user=customer, attempt=paid_by(customer), **DETAILS)
    InvoiceRequest.objects.filter(pk=invoice.pk).update(uuid=uuid)


@pytest.mark.time_machine(datetime(2026, 11, 25, 10, 0, tzinfo=clock.BUSINESS_TIME_ZONE))
def test_every_example_in_the_schema_is_accepted(served, token):
    Tariff.objects.create(code="RES-TIER", name="居民阶梯电价")
    Tariff.objects.create(code="RES-TIER-M", name="居民阶梯电价(月)")
    by_id = {op["operationId"]: (path, method, op) for path, method, op in operations(served)}
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE="en")
    sent = 0

    for operation_id in OPERATIONS:
        path, method, operation = by_id[operation_id]
        parameters = parameter_examples(operation)
        body = body_example(operation)
        if body is None and not any(parameters.values()):
            continue
        url = path.format(**parameters["path"])
        if "uuid" in parameters["path"]:
            invoice_request_with_uuid(parameters["path"]["uuid"])
        if parameters["query"]:
            url += "?" + urlencode(parameters["query"])
        kwargs = {}
        if body is not None:
            content_type, example = body
            data = example if isinstance(example, str) else json.dumps(example)
            kwargs = {"data": data.encode(), "content_type": content_type}

        response = getattr(api, method)(url, **kwargs)

        sent += 1
        assert 200 <= response.status_code < 300, (operation_id, response.content)
        answer = response.json()
        if "rejected" in answer:  # an import's report: the example's rows are all taken
            assert (answer["rejected"], answer["errors"]) == (0, []), (operation_id, answer)

    assert sent == len(OPERATIONS)
    assert ServiceAccount.objects.filter(number="3100012345").exists()
    assert Bill.objects.get(number="B202610000123").lines.count() == 2
    assert OutsidePayment.objects.get().reference == "CIS-PAY-20261112-000042"
    assert InvoiceRequest.objects.get().invoice_number == "25117000000012345678"
    assert not NoticePage.objects.get(external_id="OMS-2026-004711").live  # a draft for review


# --- schemathesis: requests generated from the schema ---------------------------------------------


@schemathesis.serializer("application/x-ndjson", "application/jsonl")
def _json_lines(ctx, value):
    """The imports' bodies are documented as a string (the JSON Lines text): send it as UTF-8."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return (json.dumps(value) + "\n").encode()


# The schema as the API serves it; requests go to the API in this process, so they run inside the
# test's database transaction.
schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, application)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def connection_kept_across_requests():
    """Django closes the database connection at the end of each request it handles through WSGI;
    that would close the test's transaction (PostgreSQL) between two generated requests. Its own
    test client disconnects the same handler for the same reason."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@hypothesis.settings(
    max_examples=50,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_the_api_keeps_to_its_schema(case, token, connection_kept_across_requests):
    Tariff.objects.get_or_create(code="RES-TIER", defaults={"name": "居民阶梯电价"})
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
