"""The integration API at /api/integration/v1/ (django-ninja), for the billing system (CIS):
accounts, bills and outside payments in, each through the same service as its import command;
the portal's payments and reconnection requests out, through the billing export's cursor, as
``manage.py export_payments`` writes them.

This module holds the API itself (authentication, limits, the shared refusals and import
handling) and the accounts endpoint; the payments app adds its endpoints as a router
(payments/api.py, registered by payments/hooks.py), so this layer never imports it.

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

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from .account_import import ACCOUNT_COLUMNS, accounts_import
from .core import ratelimit
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


@api.exception_handler(AuthenticationError)
def _unauthorised(request, exc):
    response = api.create_response(
        request,
        {"detail": _("A valid bearer token of an active integration client is required.")},
        status=401,
    )
    response["WWW-Authenticate"] = 'Bearer realm="powerhall integration"'
    return response


def refusal(request, status: int, message: str, **headers):
    response = api.create_response(request, {"detail": str(message)}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def check_client(request, scope: str):
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
        return refusal(
            request,
            429,
            _("Too many requests from this client. Try again later."),
            Retry_After=str(window),
        )
    if not client.has_scope(scope):
        return refusal(
            request,
            403,
            _("This client does not have the %(scope)s scope.") % {"scope": scope},
        )
    return None


def import_body(request, *, scope: str, run_import, strict: bool, file_name: str):
    """What every import endpoint does: check the client, spool the JSON Lines body, run the
    import exactly as its command would, and answer with the report (422 when ``strict``
    refused it)."""
    refused = check_client(request, scope)
    if refused is not None:
        return refused
    if request.content_type not in JSONL_CONTENT_TYPES:
        return refusal(
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
        return refusal(request, 413, too_large % {"limit": limit})

    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as body:
        size = 0
        while chunk := request.read(_READ_CHUNK):
            size += len(chunk)
            if size > limit:
                return refusal(request, 413, too_large % {"limit": limit})
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
            return refusal(request, 400, error.message)
    return Status(200 if report.committed else 422, report.as_dict())


def request_body(columns, example: dict) -> dict:
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


def import_responses(report_schema) -> dict:
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


STRICT_NOTE = (
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
        "answers with the same report. " + STRICT_NOTE
    ),
    response=import_responses(ImportReportOut),
    openapi_extra=request_body(
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
    return import_body(
        request,
        scope=IntegrationScope.ACCOUNTS_WRITE,
        run_import=accounts_import,
        strict=strict,
        file_name=file_name,
    )
