"""The integration API at /api/integration/v1/ (django-ninja), for the billing system (CIS):
accounts, bills and outside payments in, each through the same service as its import command;
the portal's payments and reconnection requests out, through the billing export's cursor
(payments/export.py), as ``manage.py export_payments`` writes them.

Every operation needs a bearer token of an active integration client (portal/integration.py)
holding the operation's scope: no token, a wrong one or a revoked one is 401, a missing scope
403. Each client has its own rate limit. The API never uses the session cookie, so CSRF does not
apply: django-ninja marks its views csrf_exempt, and bearer authentication does not look at
cookies. The schema is served at /api/integration/v1/openapi.json; the docs UI stays off.

Request bodies are copied to a spooled temporary file before the import starts, so a client that
sends slowly does not hold the import's database transaction (on SQLite, the one write lock)
open while it trickles in; the import then reads the file as the command would.
"""

import json
import tempfile
from typing import Literal
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Query, Schema, Status
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from payments.bill_import import BILL_COLUMNS, bills_import
from payments.export import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    export_batch,
    export_cursor,
    export_cursor_advance,
    export_has_more,
    export_last_seq,
)
from payments.invoices import InvoiceStatusConflict, InvoiceUnknown, invoice_status_set
from payments.payment_import import PAYMENT_COLUMNS, payments_import

from .account_import import ACCOUNT_COLUMNS, accounts_import
from .core import ratelimit
from .core.errors import InvalidInput
from .core.interchange import InterchangeError
from .integration import integration_client_authenticate
from .models import IntegrationClient, IntegrationScope

JSONL_CONTENT_TYPES = ("application/x-ndjson", "application/jsonl")
# The body is spooled to disk, not held in memory, so it may exceed DATA_UPLOAD_MAX_MEMORY_SIZE
# (5 MB); the bound is how long one request may keep a worker and a transaction busy. Bigger
# loads go through the import commands (`manage.py import_accounts`, `import_bills`, …).
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024
DEFAULT_RATE_LIMIT = 120  # requests per client …
DEFAULT_RATE_WINDOW = 3600  # … per this many seconds
_SPOOL_IN_MEMORY = 1024 * 1024
_READ_CHUNK = 64 * 1024


def max_body_bytes() -> int:
    return getattr(settings, "INTEGRATION_API_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)


class ClientToken(HttpBearer):
    """``Authorization: Bearer phk_<prefix>_<secret>``; ``request.auth`` is the client."""

    def authenticate(self, request: HttpRequest, token: str) -> IntegrationClient | None:
        return integration_client_authenticate(token=token)


api = NinjaAPI(
    title="powerhall integration API",
    version="1",
    description=(
        "For the billing system (CIS): import electricity accounts, bills and payments made "
        "through other channels, and read the portal's payments and reconnection requests. "
        "Bearer token per integration client, created by staff. See docs/integration.md."
    ),
    urls_namespace="integration",
    docs_url=None,
    auth=ClientToken(),
)


class Detail(Schema):
    detail: str


class RowErrorOut(Schema):
    line: int
    reason: str


class ImportReportOut(Schema):
    file_name: str
    format: str
    sha256: str
    strict: bool
    committed: bool
    rows: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    flagged: int
    errors: list[RowErrorOut]
    errors_truncated: bool


class BillImportReportOut(ImportReportOut):
    replaced: int
    adjusted: int
    cancelled: int


@api.exception_handler(AuthenticationError)
def _unauthorised(request, exc):
    response = api.create_response(
        request,
        {"detail": _("A valid bearer token of an active integration client is required.")},
        status=401,
    )
    response["WWW-Authenticate"] = 'Bearer realm="powerhall integration"'
    return response


def _refusal(request, status: int, message: str, **headers):
    response = api.create_response(request, {"detail": str(message)}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _check_client(request, scope: str):
    """None if the authenticated client may go on; otherwise the response that refuses it."""
    client = request.auth
    window = getattr(settings, "INTEGRATION_API_RATE_WINDOW", DEFAULT_RATE_WINDOW)
    allowed = ratelimit.hit(
        ratelimit.Limit(
            scope="integration:client",
            key=str(client.pk),
            max_attempts=getattr(settings, "INTEGRATION_API_RATE_LIMIT", DEFAULT_RATE_LIMIT),
            window_seconds=window,
        )
    )
    if not allowed:
        return _refusal(
            request,
            429,
            _("Too many requests from this client. Try again later."),
            Retry_After=str(window),
        )
    if not client.has_scope(scope):
        return _refusal(
            request,
            403,
            _("This client does not have the %(scope)s scope.") % {"scope": scope},
        )
    return None


def _import_body(request, *, scope: str, run_import, strict: bool, file_name: str):
    """What every import endpoint does: check the client, spool the JSON Lines body, run the
    import exactly as its command would, and answer with the report (422 when ``strict``
    refused it)."""
    refused = _check_client(request, scope)
    if refused is not None:
        return refused
    if request.content_type not in JSONL_CONTENT_TYPES:
        return _refusal(
            request,
            415,
            _("Send JSON Lines with Content-Type %(types)s.")
            % {"types": " or ".join(JSONL_CONTENT_TYPES)},
        )
    limit = max_body_bytes()
    too_large = _("The body is larger than %(limit)s bytes. Split it, or use the import command.")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return _refusal(request, 413, too_large % {"limit": limit})

    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as body:
        size = 0
        while chunk := request.read(_READ_CHUNK):
            size += len(chunk)
            if size > limit:
                return _refusal(request, 413, too_large % {"limit": limit})
            body.write(chunk)
        body.seek(0)
        try:
            report = run_import(
                stream=body,
                fmt="jsonl",
                file_name=file_name.strip()[:200] or "(request body)",
                strict=strict,
                client=request.auth,
            )
        except InterchangeError as error:
            return _refusal(request, 400, error.message)
    return Status(200 if report.committed else 422, report.as_dict())


def _request_body(columns, example: dict) -> dict:
    schema = {
        "type": "string",
        "description": (
            "JSON Lines: one JSON object per line with these keys: "
            + ", ".join(columns)
            + ". UTF-8."
        ),
        "example": json.dumps(example, ensure_ascii=False) + "\n",
    }
    return {
        "requestBody": {
            "required": True,
            "content": {content_type: {"schema": schema} for content_type in JSONL_CONTENT_TYPES},
        }
    }


def _responses(report_schema) -> dict:
    return {
        200: report_schema,
        400: Detail,
        401: Detail,
        403: Detail,
        413: Detail,
        415: Detail,
        422: report_schema,
        429: Detail,
    }


_STRICT_NOTE = (
    "Rows that fail validation are listed with their line number (the first line is 1); the "
    "others are imported, unless `strict=true`: then one bad row means nothing is imported and "
    "the answer is 422. `file_name` names the batch in the audit log."
)


@api.post(
    "/accounts",
    operation_id="accounts_import",
    summary="Import electricity accounts (JSON Lines)",
    description=(
        "Upserts accounts by account number, exactly as `manage.py import_accounts` does, and "
        "answers with the same report. " + _STRICT_NOTE
    ),
    response=_responses(ImportReportOut),
    openapi_extra=_request_body(
        ACCOUNT_COLUMNS,
        {
            "account_number": "3100012345",
            "holder_name": "张伟",
            "address": "浦东新区世纪大道 100 号 1201 室",
            "district": "浦东新区",
            "feeder": "10kV 世纪线",
            "customer_class": "residential",
            "tariff_code": "RES-TIER",
            "status": "active",
            "meter_number": "M0012345678",
            "phone": "13800138000",
            "email": "",
        },
    ),
)
def accounts_import_view(request, strict: bool = False, file_name: str = ""):
    """``?strict=true`` refuses the whole body on one bad row; ``?file_name=`` names the batch in
    the audit log (default: "(request body)")."""
    return _import_body(
        request,
        scope=IntegrationScope.ACCOUNTS_WRITE,
        run_import=accounts_import,
        strict=strict,
        file_name=file_name,
    )


@api.post(
    "/bills",
    operation_id="bills_import",
    summary="Import bills (JSON Lines)",
    description=(
        "Creates bills by bill number, or replaces, adjusts or cancels a known one, exactly as "
        "`manage.py import_bills` does, and answers with the same report. " + _STRICT_NOTE
    ),
    response=_responses(BillImportReportOut),
    openapi_extra=_request_body(
        (*BILL_COLUMNS, "status (optional)", "lines (optional)"),
        {
            "bill_number": "B202610000123",
            "account_number": "3100012345",
            "period_start": "2026-10-01",
            "period_end": "2026-10-31",
            "issue_date": "2026-11-05",
            "due_date": "2026-11-20",
            "kwh": "260",
            "amount": "128.56",
            "tariff_code": "RES-TIER-M",
            "status": "issued",
            "lines": [
                {
                    "kind": "tier",
                    "label": "第一档",
                    "kwh": "230",
                    "unit_price": "0.4883",
                    "amount": "112.31",
                },
                {
                    "kind": "tier",
                    "label": "第二档",
                    "kwh": "30",
                    "unit_price": "0.5383",
                    "amount": "16.15",
                },
            ],
        },
    ),
)
def bills_import_view(request, strict: bool = False, file_name: str = ""):
    """Same query parameters as ``/accounts``."""
    return _import_body(
        request,
        scope=IntegrationScope.BILLS_WRITE,
        run_import=bills_import,
        strict=strict,
        file_name=file_name,
    )


@api.post(
    "/payments",
    operation_id="payments_import",
    summary="Import payments made through other channels (JSON Lines)",
    description=(
        "Posts payments made at a counter, by bank direct debit or in another app, idempotent by "
        "payment reference, exactly as `manage.py import_payments` does, and answers with the "
        "same report. " + _STRICT_NOTE
    ),
    response=_responses(ImportReportOut),
    openapi_extra=_request_body(
        PAYMENT_COLUMNS,
        {
            "payment_reference": "CIS-PAY-20261112-000042",
            "bill_number": "B202610000123",
            "amount": "128.46",
            "paid_at": "2026-11-12T10:15:00+08:00",
            "channel": "bank_debit",
        },
    ),
)
def payments_import_view(request, strict: bool = False, file_name: str = ""):
    """Same query parameters as ``/accounts``."""
    return _import_body(
        request,
        scope=IntegrationScope.BILLS_WRITE,
        run_import=payments_import,
        strict=strict,
        file_name=file_name,
    )


class ExportMessageOut(Schema):
    seq: int
    kind: str
    data: dict


class ExportOut(Schema):
    messages: list[ExportMessageOut]
    next: int
    has_more: bool


@api.get(
    "/payments/export",
    operation_id="payments_export",
    summary="Read payments, refunds and reconnection requests, each once (cursor)",
    description=(
        "The portal's messages for the billing system in commit order: `payment`, `refund` and "
        "`reconnection`. Pass `after` = the `next` of the last answer you have processed: that "
        "confirms everything up to it, and the answer holds what follows. Without `after`, the "
        "answer starts after the last cursor this client confirmed. The same `after` always "
        "gives the same messages, so a retry is safe. A transaction's messages are never split "
        "(an answer may hold a few more than `limit`). Scope `payments:read`."
    ),
    response={200: ExportOut, 400: Detail, 401: Detail, 403: Detail, 429: Detail},
)
def payments_export_view(
    request,
    after: int | None = Query(None, ge=0),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
):
    """``?after=<cursor>`` confirms the messages up to it; ``?limit=`` (1 to 1000, default
    100) bounds the answer."""
    refused = _check_client(request, IntegrationScope.PAYMENTS_READ)
    if refused is not None:
        return refused
    consumer = f"client:{request.auth.pk}"
    if after is None:
        after = export_cursor(consumer)
    elif after > export_last_seq():
        # A cursor we never handed out: storing it would skip messages not yet written.
        return _refusal(
            request,
            400,
            _("after=%(after)s is beyond the last message; send the next value you were given.")
            % {"after": after},
        )
    else:
        export_cursor_advance(consumer=consumer, seq=after)
    messages, cursor = export_batch(after=after, limit=limit)
    return {"messages": messages, "next": cursor, "has_more": export_has_more(after=cursor)}


# --- VAT invoice requests: the billing system's answer --------------------------------------------
class InvoiceStatusIn(Schema):
    status: Literal["issued", "rejected"]
    invoice_number: str = ""
    """Required with ``issued``: the number of the invoice issued."""
    note: str = ""
    """Required with ``rejected``: why, in words the customer is shown."""


class InvoiceStatusOut(Schema):
    invoice_request: str
    payment_reference: str
    status: str
    invoice_number: str
    note: str
    changed: bool


@api.post(
    "/invoices/{uuid}",
    operation_id="invoice_status_set",
    summary="Report that a VAT invoice was issued, or why it was not",
    description=(
        "The answer to an `invoice_request` message of the export: `issued` with "
        "`invoice_number`, or `rejected` with a `note` the customer is shown. The portal shows "
        "the status on the payment's pages. Reporting the same status again changes nothing "
        "(`changed: false`); a different invoice number for an issued request, or another "
        "status for a request already issued or rejected, is `409`. Scope `invoices:write`."
    ),
    response={
        200: InvoiceStatusOut,
        401: Detail,
        403: Detail,
        404: Detail,
        409: Detail,
        422: Detail,
        429: Detail,
    },
)
def invoice_status_view(request, uuid: UUID, body: InvoiceStatusIn):
    """``uuid``: the `invoice_request` of the export's message."""
    refused = _check_client(request, IntegrationScope.INVOICES_WRITE)
    if refused is not None:
        return refused
    try:
        result = invoice_status_set(
            uuid=uuid,
            status=body.status,
            invoice_number=body.invoice_number,
            note=body.note,
            client=request.auth,
        )
    except InvoiceUnknown as error:
        return _refusal(request, 404, error.message)
    except InvoiceStatusConflict as error:
        return _refusal(request, 409, error.message)
    except InvalidInput as error:
        return _refusal(request, 422, error.message)
    invoice = result.request
    return {
        "invoice_request": str(invoice.uuid),
        "payment_reference": invoice.attempt.reference,
        "status": invoice.status,
        "invoice_number": invoice.invoice_number,
        "note": invoice.status_note,
        "changed": result.changed,
    }
