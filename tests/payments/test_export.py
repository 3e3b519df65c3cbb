"""The billing export: payments and reconnection requests handed to the billing system once each,
through a cursor, by `GET /api/integration/v1/payments/export` (scope `payments:read`) and
`manage.py export_payments` (payments/export.py; docs/integration.md). Runs on SQLite and on
PostgreSQL."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import translation

from payments import checkout
from payments.export import export_batch, export_cursor
from payments.models import BillingExport, ExportCursor, ExportKind
from portal.integration import integration_client_create
from portal.models import AccountStatus, IntegrationScope
from tests.factories import UserFactory
from tests.payments.test_checkout import local_pay, own_bill

pytestmark = pytest.mark.django_db

EXPORT = "/api/integration/v1/payments/export"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def api():
    """A client as the billing system is: no session, CSRF enforced."""
    return Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def reader():
    """(client, token) of a billing system allowed to read payments."""
    return integration_client_create(name="CIS reader", scopes=[IntegrationScope.PAYMENTS_READ])


def get(api, token, **query):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return api.get(EXPORT, query, **headers)


def paid(*, suspended=False):
    """A customer pays a bill online; for a suspended account in arrears the payment also
    requests reconnection, in the same transaction. Returns the attempt."""
    customer = UserFactory()
    bill = own_bill(customer)
    if suspended:
        bill.account.status = AccountStatus.SUSPENDED
        bill.account.save()
    attempt = checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])
    local_pay(attempt)
    return attempt


@pytest.fixture
def two_payments():
    """A payment that requested reconnection (two messages, one transaction), then another."""
    first, second = paid(suspended=True), paid()
    seqs = list(BillingExport.objects.values_list("seq", flat=True))
    assert len(seqs) == 3 and seqs[0] == seqs[1] < seqs[2]
    return first, second


def references(messages) -> list[tuple[str, str]]:
    return [
        (m["kind"], m["data"].get("reference") or m["data"]["payment_reference"]) for m in messages
    ]


# --- The batch ------------------------------------------------------------------------------------


def test_a_payment_and_its_reconnection_come_out_together_even_past_the_limit(two_payments):
    first, second = two_payments

    messages, cursor = export_batch(after=0, limit=1)

    assert references(messages) == [
        (ExportKind.PAYMENT, first.reference),
        (ExportKind.RECONNECTION, first.reference),
    ]
    assert cursor == messages[0]["seq"] == messages[1]["seq"]
    assert (
        messages[1]["data"]["account_number"] == messages[0]["data"]["bills"][0]["account_number"]
    )

    rest, last = export_batch(after=cursor, limit=1)
    assert references(rest) == [(ExportKind.PAYMENT, second.reference)]
    assert export_batch(after=last, limit=10) == ([], last)


def test_messages_come_in_commit_order(two_payments):
    first, second = two_payments

    messages, _cursor = export_batch(after=0, limit=100)

    assert [m["data"].get("reference") for m in messages if m["kind"] == "payment"] == [
        first.reference,
        second.reference,
    ]
    assert [m["seq"] for m in messages] == sorted(m["seq"] for m in messages)


# --- The API --------------------------------------------------------------------------------------


def test_a_retry_with_the_same_cursor_gets_the_same_messages(api, reader, two_payments):
    _client, token = reader

    first = get(api, token, after=0, limit=1)
    again = get(api, token, after=0, limit=1)

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    body = first.json()
    assert [m["kind"] for m in body["messages"]] == ["payment", "reconnection"]
    assert body["has_more"] is True


def test_asking_after_a_cursor_confirms_it_and_a_client_resumes_where_it_confirmed(
    api, reader, two_payments
):
    client, token = reader
    _first, second = two_payments

    body = get(api, token, limit=1).json()  # no cursor yet: from the start
    assert [m["kind"] for m in body["messages"]] == ["payment", "reconnection"]
    assert export_cursor(consumer=f"client:{client.pk}") == 0  # read, not yet confirmed

    following = get(api, token, after=body["next"], limit=1).json()
    assert references(following["messages"]) == [("payment", second.reference)]
    assert following["has_more"] is False
    assert export_cursor(consumer=f"client:{client.pk}") == body["next"]

    # The client crashed before storing what it got: without a cursor it gets the same again.
    resumed = get(api, token, limit=1).json()
    assert resumed == following

    done = get(api, token, after=following["next"]).json()
    assert done == {"messages": [], "next": following["next"], "has_more": False}
    # A late retry of an older confirmation does not move the cursor back.
    get(api, token, after=0)
    assert export_cursor(consumer=f"client:{client.pk}") == following["next"]


def test_each_client_has_its_own_cursor(api, reader, two_payments):
    _client, token = reader
    _other, other_token = integration_client_create(
        name="Data warehouse", scopes=[IntegrationScope.PAYMENTS_READ]
    )
    body = get(api, token, limit=100).json()
    get(api, token, after=body["next"])

    assert len(get(api, other_token).json()["messages"]) == 3
    assert get(api, token).json()["messages"] == []


def test_a_cursor_beyond_the_last_message_is_refused(api, reader, two_payments):
    client, token = reader
    last = BillingExport.objects.order_by("-seq").first().seq

    response = get(api, token, after=last + 1000)

    assert response.status_code == 400
    assert "beyond the last message" in response.json()["detail"]
    assert not ExportCursor.objects.filter(consumer=f"client:{client.pk}").exists()


def test_a_limit_outside_1_to_1000_is_refused(api, reader):
    _client, token = reader
    assert get(api, token, limit=0).status_code == 422
    assert get(api, token, limit=1001).status_code == 422


def test_a_client_without_the_scope_is_refused(api, two_payments):
    _client, token = integration_client_create(
        name="CIS writer", scopes=[IntegrationScope.BILLS_WRITE]
    )

    response = get(api, token, after=0)

    assert response.status_code == 403
    assert "payments:read" in response.json()["detail"]
    assert not ExportCursor.objects.exists()


def test_no_token_is_refused(api, two_payments):
    response = get(api, None, after=0)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


# --- The command ----------------------------------------------------------------------------------


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_payments", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def read_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_command_writes_json_lines_and_moves_the_cursor(tmp_path, two_payments):
    first, second = two_payments
    target = tmp_path / "payments.jsonl"

    out, _err = run("--consumer", "cis-file", "--output", str(target))

    messages = read_lines(target)
    assert references(messages) == [
        ("payment", first.reference),
        ("reconnection", first.reference),
        ("payment", second.reference),
    ]
    assert messages[0]["data"]["amount"] == f"{first.amount:.2f}"
    assert export_cursor(consumer="cis-file") == messages[-1]["seq"]
    assert "3 message(s)" in out

    # Nothing new: an empty file, the cursor where it was.
    run("--consumer", "cis-file", "--output", str(target))
    assert target.read_text() == ""
    third = paid()
    run("--consumer", "cis-file", "--output", str(target))
    assert references(read_lines(target)) == [("payment", third.reference)]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["payments.jsonl"]


def test_the_command_writes_to_standard_output_with_a_limit(two_payments):
    first, _second = two_payments

    out, err = run("--limit", "1")

    lines = [json.loads(line) for line in out.splitlines()]
    assert references(lines) == [("payment", first.reference), ("reconnection", first.reference)]
    assert "2 message(s)" in err
    assert export_cursor(consumer="export_payments") == lines[-1]["seq"]


def test_a_lost_file_is_written_again_with_after(tmp_path, two_payments):
    run("--consumer", "cis-file", "--output", str(tmp_path / "first.jsonl"))
    cursor = export_cursor(consumer="cis-file")

    run("--consumer", "cis-file", "--after", "0", "--output", str(tmp_path / "again.jsonl"))

    assert (tmp_path / "again.jsonl").read_text() == (tmp_path / "first.jsonl").read_text()
    assert export_cursor(consumer="cis-file") == cursor


def test_a_failed_write_leaves_the_cursor_where_it_was(tmp_path, two_payments):
    with pytest.raises(CommandError):
        run("--consumer", "cis-file", "--output", str(tmp_path / "missing" / "payments.jsonl"))

    assert export_cursor(consumer="cis-file") == 0
    assert not ExportCursor.objects.filter(consumer="cis-file", seq__gt=0).exists()


def test_the_command_refuses_a_client_consumer_and_a_bad_after(two_payments):
    with pytest.raises(CommandError) as refused:
        run("--consumer", "client:1")
    assert refused.value.returncode == 2
    with pytest.raises(CommandError) as refused:
        run("--after", "999999999")
    assert refused.value.returncode == 2
