"""The integration API (/api/integration/v1/), its bearer tokens, and the staff screens that
create and revoke them (portal/integration_api.py, portal/integration.py,
portal/wagtail_admin_integration.py; docs/integration.md)."""

import hashlib
import io
import json
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import translation

from payments.models import Tariff
from portal.core.errors import InvalidInput
from portal.integration import (
    integration_client_authenticate,
    integration_client_create,
    integration_client_revoke,
)
from portal.models import AuditEvent, IntegrationClient, IntegrationScope, ServiceAccount
from tests.factories import StaffUserFactory, UserFactory, totp_enrol

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "accounts"
URL = "/api/integration/v1/accounts"
NDJSON = "application/x-ndjson"
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def tariffs():
    Tariff.objects.create(code="RES-TIER", name="居民阶梯电价")
    Tariff.objects.create(code="LV-BIZ", name="一般工商业电价")


@pytest.fixture
def api():
    """A client as the billing system is: no session, no CSRF cookie, and CSRF enforced."""
    return Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def token():
    _client, token = integration_client_create(
        name="CIS production", scopes=[IntegrationScope.ACCOUNTS_WRITE]
    )
    return token


def post(api, body: bytes, token: str | None = None, content_type=NDJSON, query=""):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return api.post(URL + query, data=body, content_type=content_type, **headers)


def problem(response, status: int, type: str = "about:blank") -> dict:
    """The RFC 9457 problem document the API answered with ``status``."""
    assert response.status_code == status
    assert response["Content-Type"] == PROBLEM
    document = response.json()
    assert (document["type"], document["status"]) == (type, status)
    assert document["title"] and document["detail"]
    return document


def jsonl_body() -> bytes:
    return (FIXTURES / "accounts.jsonl").read_bytes()


def rejects_body() -> bytes:
    """rejects.csv as JSON Lines, so the API and the command can be compared on it."""
    lines = []
    for line in (FIXTURES / "rejects.csv").read_text().splitlines()[1:]:
        values = line.split(",")
        columns = (FIXTURES / "rejects.csv").read_text().splitlines()[0].split(",")
        lines.append(json.dumps(dict(zip(columns, values, strict=False)), ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode()


# --- Tokens -------------------------------------------------------------------------------------


def test_a_token_is_shown_once_and_only_its_hash_is_stored():
    client, token = integration_client_create(name="CIS", scopes=["accounts:write"])

    marker, prefix, secret = token.split("_", 2)
    assert marker == "phk"
    assert prefix == client.token_prefix
    assert len(secret) >= 40
    assert client.token_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = IntegrationClient.objects.filter(pk=client.pk).values().get()
    assert token not in json.dumps(stored, default=str)
    assert integration_client_authenticate(token=token) == client
    assert integration_client_authenticate(token=token[:-1] + "x") is None
    assert integration_client_authenticate(token=f"phk_{prefix}_") is None
    assert integration_client_authenticate(token="phk_000000000000_" + secret) is None


def test_the_command_prints_the_token_once_and_audits_the_creation():
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "integration_client_create", "CIS test", "--scope", "accounts:write", stdout=out, stderr=err
    )

    token = out.getvalue().strip()
    client = IntegrationClient.objects.get(name="CIS test")
    assert client.scopes == ["accounts:write"]
    assert integration_client_authenticate(token=token) == client
    assert "cannot be shown again" in err.getvalue()
    (event,) = AuditEvent.objects.filter(action="integration.client_created")
    assert token not in event.data
    assert json.loads(event.data)["token_prefix"] == client.token_prefix


def test_a_second_client_with_the_same_name_is_refused():
    integration_client_create(name="CIS", scopes=["accounts:write"])

    with pytest.raises(InvalidInput, match="already exists"):
        integration_client_create(name="CIS", scopes=["accounts:write"])


# --- Authentication and scopes ------------------------------------------------------------------


def test_without_a_token_the_answer_is_401(api):
    response = post(api, jsonl_body())

    assert problem(response, 401)["title"] == "Unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert ServiceAccount.objects.count() == 0


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer phk_0123456789ab_not-the-secret",
        "Bearer nonsense",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
    ],
)
def test_a_bad_token_is_401(api, token, authorization):
    response = api.post(
        URL, data=jsonl_body(), content_type=NDJSON, HTTP_AUTHORIZATION=authorization
    )

    problem(response, 401)
    assert ServiceAccount.objects.count() == 0


def test_a_revoked_token_is_401(api, token):
    client = IntegrationClient.objects.get()
    integration_client_revoke(client=client)

    response = post(api, jsonl_body(), token)

    assert response.status_code == 401
    assert ServiceAccount.objects.count() == 0
    assert AuditEvent.objects.filter(action="integration.client_revoked").count() == 1


def test_a_client_without_the_scope_is_403(api):
    _client, token = integration_client_create(name="Payments reader", scopes=["payments:read"])

    response = post(api, jsonl_body(), token)

    assert "accounts:write" in problem(response, 403)["detail"]
    assert ServiceAccount.objects.count() == 0


def test_a_session_of_a_signed_in_superuser_is_not_enough(api):
    api.force_login(StaffUserFactory(is_superuser=True))

    assert post(api, jsonl_body()).status_code == 401


# --- Importing ----------------------------------------------------------------------------------


def test_a_good_body_is_imported_and_reported(api, token):
    response = post(api, jsonl_body(), token)

    assert response.status_code == 200
    report = response.json()
    assert report["committed"] is True
    assert {k: report[k] for k in ("rows", "created", "updated", "unchanged", "rejected")} == {
        "rows": 4,
        "created": 4,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
    }
    assert report["flagged"] == 1
    assert report["errors"] == []
    assert report["sha256"] == hashlib.sha256(jsonl_body()).hexdigest()
    assert ServiceAccount.objects.get(number="3100012345").phone == "+8613800138000"
    # CSRF did not apply (the test client enforces it), and the use was recorded.
    assert IntegrationClient.objects.get().last_used_at is not None


def test_the_application_jsonl_content_type_is_accepted_too(api, token):
    response = post(api, jsonl_body(), token, content_type="application/jsonl; charset=utf-8")

    assert response.status_code == 200


def test_a_second_identical_call_changes_nothing(api, token):
    post(api, jsonl_body(), token)
    before = dict(ServiceAccount.objects.values_list("number", "updated_at"))

    report = post(api, jsonl_body(), token).json()

    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 4)
    assert dict(ServiceAccount.objects.values_list("number", "updated_at")) == before


def test_the_api_answers_with_the_same_report_as_the_command(api, token, tmp_path):
    body = rejects_body()
    response = post(api, body, token)
    assert response.status_code == 200
    report = response.json()
    ServiceAccount.objects.all().delete()
    path = tmp_path / "rejects.jsonl"
    path.write_bytes(body)
    out = io.StringIO()

    with pytest.raises(CommandError) as stopped:  # exit status 3: rows rejected, the rest kept
        call_command("import_accounts", str(path), stdout=out, stderr=io.StringIO())

    assert stopped.value.returncode == 3

    assert report["rejected"] == 9
    assert report["errors"][0]["line"] == 2  # JSON Lines count from 1: no header
    for error in report["errors"]:
        assert f"line {error['line']}: {error['reason']}" in out.getvalue()
    counts = "{rows} rows: {created} created, {updated} updated, {unchanged} unchanged, "
    counts += "{rejected} rejected, {flagged} flagged"
    assert counts.format(**report) in out.getvalue()


def test_rejected_rows_are_listed_and_the_rest_imported(api, token):
    report = post(api, rejects_body(), token).json()

    assert report["committed"] is True
    assert (report["created"], report["rejected"]) == (2, 9)
    duplicate = next(e for e in report["errors"] if e["line"] == 10)
    assert duplicate["reason"] == "account number 3100012345 already appears on line 1"


def test_strict_imports_nothing_and_answers_422(api, token):
    response = post(api, rejects_body(), token, query="?strict=true")

    # A problem document whose extension members are the report.
    report = problem(response, 422, type="/api/integration/v1/problems/strict-refused")
    assert "nothing was imported" in report["detail"]
    assert report["committed"] is False
    assert report["strict"] is True
    assert report["rejected"] == 9
    assert report["created"] == 0
    assert ServiceAccount.objects.count() == 0
    assert not AuditEvent.objects.filter(action="accounts.imported").exists()


def test_one_audit_record_per_call_names_the_client(api, token):
    post(api, jsonl_body(), token, query="?file_name=accounts-20261126.jsonl")

    (event,) = AuditEvent.objects.filter(action="accounts.imported")
    data = json.loads(event.data)
    client = IntegrationClient.objects.get()
    assert data["client"] == "CIS production"
    assert data["file"] == "accounts-20261126.jsonl"
    assert data["format"] == "jsonl"
    assert data["sha256"] == hashlib.sha256(jsonl_body()).hexdigest()
    assert data["counts"]["created"] == 4
    assert event.object_ref == f"portal.integrationclient:{client.uuid}"
    assert event.actor_role == "integration"


def test_an_unreadable_body_is_400_with_the_reason(api, token):
    response = post(api, jsonl_body().decode().encode("utf-16"), token)

    assert "neither UTF-8 nor GBK" in problem(response, 400)["detail"]
    assert ServiceAccount.objects.count() == 0


def test_an_empty_body_is_400(api, token):
    response = post(api, b"\n\n", token)

    assert "empty" in problem(response, 400)["detail"]


def test_another_content_type_is_415(api, token):
    response = post(api, jsonl_body(), token, content_type="text/csv")

    assert "application/x-ndjson" in problem(response, 415)["detail"]
    assert ServiceAccount.objects.count() == 0


def test_a_body_over_the_limit_is_413(api, token, settings):
    settings.INTEGRATION_API_MAX_BODY_BYTES = 1000

    response = post(api, jsonl_body(), token)

    assert len(jsonl_body()) > 1000
    assert "1000" in problem(response, 413)["detail"]
    assert ServiceAccount.objects.count() == 0


def test_each_client_has_its_own_rate_limit(api, token, settings):
    settings.INTEGRATION_API_RATE_LIMIT = 2
    _other, other_token = integration_client_create(name="CIS staging", scopes=["accounts:write"])

    assert post(api, jsonl_body(), token).status_code == 200
    assert post(api, jsonl_body(), token).status_code == 200
    limited = post(api, jsonl_body(), token)

    problem(limited, 429)
    assert int(limited["Retry-After"]) > 0
    assert post(api, jsonl_body(), other_token).status_code == 200


# --- Every other answer is a problem document too ----------------------------------------------


def test_an_invalid_query_parameter_is_422_saying_which_and_why(api, token):
    response = post(api, jsonl_body(), token, query="?strict=maybe")

    document = problem(response, 422, type="/api/integration/v1/problems/invalid-request")
    (error,) = document["errors"]
    assert (error["location"], error["parameter"]) == ("query", "strict")
    assert "boolean" in error["detail"]
    assert ServiceAccount.objects.count() == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "nothing-here"), ("post", "accounts/"), ("delete", "payments/export/1"), ("get", "")],
)
def test_an_unknown_path_under_the_api_is_a_404_problem_not_a_page(api, token, method, path):
    response = getattr(api, method)(
        f"/api/integration/v1/{path}", HTTP_AUTHORIZATION=f"Bearer {token}"
    )

    assert f"/api/integration/v1/{path}" in problem(response, 404)["detail"]


INVOICE = "/api/integration/v1/invoices/6f1c2a9e-4b7d-4e2a-9c1b-3d5e7f9a0b12"


@pytest.fixture
def invoices_token():
    _client, token = integration_client_create(name="CIS invoicing", scopes=["invoices:write"])
    return token


def test_a_json_body_that_does_not_parse_is_a_400_problem(api, invoices_token):
    response = api.post(
        INVOICE, b'{"status": "issued",', "application/json",
        HTTP_AUTHORIZATION=f"Bearer {invoices_token}",
    )  # fmt: skip

    assert "not valid JSON" in problem(response, 400)["detail"]


def test_a_json_body_over_djangos_limit_is_a_413_problem(api, invoices_token, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = json.dumps({"status": "issued", "invoice_number": "2" * 200})

    response = api.post(
        INVOICE, body, "application/json", HTTP_AUTHORIZATION=f"Bearer {invoices_token}"
    )

    problem(response, 413)


def test_a_body_field_of_the_wrong_type_is_a_422_problem_pointing_at_it(api, invoices_token):
    response = api.post(
        INVOICE, {"status": "issued", "note": 5}, "application/json",
        HTTP_AUTHORIZATION=f"Bearer {invoices_token}",
    )  # fmt: skip

    document = problem(response, 422, type="/api/integration/v1/problems/invalid-request")
    assert document["errors"] == [
        {"location": "body", "pointer": "#/note", "detail": "Input should be a valid string"}
    ]


def test_a_method_the_path_does_not_have_is_a_405_problem_with_allow(api, token):
    response = api.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert "GET" in problem(response, 405)["detail"]
    assert response["Allow"] == "POST"


def test_an_unexpected_failure_is_logged_and_answered_with_nothing_but_the_request_id(
    api, token, monkeypatch, caplog
):
    def broken_import(**kwargs):
        raise RuntimeError("secret connection string postgres://cis:hunter2@db")

    # A bug inside the import: the one way left to reach the catch-all.
    monkeypatch.setattr("portal.integration_api.accounts_import", broken_import)

    response = post(api, jsonl_body(), token)

    document = problem(response, 500)
    assert "hunter2" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    (record,) = [r for r in caplog.records if r.name == "portal.integration_api"]
    assert record.exc_info[0] is RuntimeError
    assert record.request_id == document["request_id"] != ""


# --- The schema ---------------------------------------------------------------------------------


def test_the_openapi_schema_is_served_and_lists_the_import(api):
    response = api.get("/api/integration/v1/openapi.json")

    assert response.status_code == 200
    schema = response.json()
    operation = schema["paths"]["/api/integration/v1/accounts"]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/x-ndjson", "application/jsonl"}
    assert {"200", "401", "403", "413", "422", "429"} <= set(operation["responses"])
    assert operation["security"] == [{"ClientToken": []}]
    assert schema["components"]["securitySchemes"]["ClientToken"]["scheme"] == "bearer"


def test_the_docs_ui_stays_off(api):
    assert api.get("/api/integration/v1/docs", follow=True).status_code == 404


# --- Staff screens in the Wagtail admin ---------------------------------------------------------


@pytest.fixture
def superuser_client(client):
    admin = StaffUserFactory(is_superuser=True)
    totp_enrol(admin)
    client.force_login(admin)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def test_staff_create_a_client_and_see_its_token_once(superuser_client, api):
    form = superuser_client.get("/cms-admin/integration-clients/add/")
    assert form.status_code == 200

    response = superuser_client.post(
        "/cms-admin/integration-clients/add/",
        {"name": "CIS production", "scopes": ["accounts:write"]},
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = BeautifulSoup(response.content, "html.parser").find(id="integration-token")["value"]
    client = IntegrationClient.objects.get(name="CIS production")
    assert client.scopes == ["accounts:write"]
    assert post(api, jsonl_body(), token).status_code == 200
    listing = superuser_client.get("/cms-admin/integration-clients/")
    assert listing.status_code == 200
    assert b"CIS production" in listing.content
    assert token.encode() not in listing.content
    (event,) = AuditEvent.objects.filter(action="integration.client_created")
    assert event.actor_id is not None


def test_a_duplicate_name_is_shown_as_a_form_error(superuser_client):
    integration_client_create(name="CIS", scopes=["accounts:write"])

    response = superuser_client.post(
        "/cms-admin/integration-clients/add/", {"name": "CIS", "scopes": ["accounts:write"]}
    )

    assert response.status_code == 200
    assert b"already exists" in response.content
    assert b"integration-token" not in response.content


def test_staff_revoke_a_client_and_its_token_stops_working(superuser_client, api, token):
    client = IntegrationClient.objects.get()

    confirm = superuser_client.get(f"/cms-admin/integration-clients/{client.pk}/revoke/")
    assert confirm.status_code == 200
    response = superuser_client.post(f"/cms-admin/integration-clients/{client.pk}/revoke/")

    assert response.status_code == 302
    assert IntegrationClient.objects.get().revoked_at is not None
    assert post(api, jsonl_body(), token).status_code == 401
    (event,) = AuditEvent.objects.filter(action="integration.client_revoked")
    assert event.actor_id is not None
    # A revoked client has no revoke page any more.
    assert (
        superuser_client.get(f"/cms-admin/integration-clients/{client.pk}/revoke/").status_code
        == 404
    )


def test_staff_with_the_add_permission_manage_clients_and_others_do_not(client):
    staff = StaffUserFactory()
    totp_enrol(staff)
    client.force_login(staff)

    assert client.get("/cms-admin/integration-clients/").status_code in (302, 403)
    assert client.post(
        "/cms-admin/integration-clients/add/", {"name": "X", "scopes": ["accounts:write"]}
    ).status_code in (302, 403)
    assert not IntegrationClient.objects.exists()

    staff.user_permissions.add(Permission.objects.get(codename="add_integrationclient"))
    staff = type(staff).objects.get(pk=staff.pk)  # drop the cached permissions
    client.force_login(staff)
    assert client.get("/cms-admin/integration-clients/").status_code == 200
    assert client.get("/cms-admin/integration-clients/add/").status_code == 200


def test_customers_cannot_reach_the_integration_screens(client):
    client.force_login(UserFactory())

    assert client.get("/cms-admin/integration-clients/").status_code in (302, 403)
    assert client.get("/cms-admin/unknown-tariffs/").status_code in (302, 403)


def test_staff_list_the_accounts_with_an_unknown_tariff(superuser_client, api, token):
    post(api, jsonl_body(), token)

    response = superuser_client.get("/cms-admin/unknown-tariffs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "3100030001" in page and "HV-10KV-TOU" in page
    assert "3100012345" not in page  # its tariff is known
    assert "energy@pujiang.example.cn" not in page  # contact details are not shown
    for url in ("/cms-admin/unknown-tariffs/add/", "/cms-admin/unknown-tariffs/edit/1/"):
        assert superuser_client.get(url).status_code == 404


def test_the_unknown_tariff_list_needs_the_view_permission(client):
    staff = StaffUserFactory()
    totp_enrol(staff)
    client.force_login(staff)
    assert client.get("/cms-admin/unknown-tariffs/").status_code in (302, 403)

    staff.user_permissions.add(Permission.objects.get(codename="view_serviceaccount"))
    client.force_login(type(staff).objects.get(pk=staff.pk))
    assert client.get("/cms-admin/unknown-tariffs/").status_code == 200
