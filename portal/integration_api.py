"""The integration API at /api/integration/v1/ (django-ninja), for the billing system (CIS):
accounts, bills and outside payments in, each through the same service as its import command;
the portal's payments and reconnection requests out, through the billing export's cursor, as
``manage.py export_payments`` writes them.

This module holds the API itself (authentication, limits, the shared refusals and import
handling) and the accounts endpoint; the payments app adds its endpoints as a router
(payments/api.py, registered by payments/hooks.py), so this layer never imports it.

Every operation needs a bearer token of an active integration client (portal/integration.py)
holding the operation's scope: no token, a wrong one or a revoked one is 401, a missing scope
403. Each client has its own rate limit. Every answer other than success is an RFC 9457 problem
document (application/problem+json), whatever raised it, and the schema lists each one. The API
never uses the session cookie, so CSRF does not apply: django-ninja marks its views csrf_exempt,
and bearer authentication does not look at cookies. The schema is served at
/api/integration/v1/openapi.json; the docs UI stays off.

Request bodies are copied to a spooled temporary file before the import starts, so a client that
sends slowly does not hold the import's database transaction (on SQLite, the one write lock)
open while it trickles in; the import then reads the file as the command would.
"""

import functools
import json
import logging
import tempfile
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import re_path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Query, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer
from pydantic import Field

from .account_import import ACCOUNT_COLUMNS, accounts_import
from .core import ratelimit, request_context
from .core.interchange import InterchangeError
from .integration import integration_client_authenticate
from .models import IntegrationClient, IntegrationScope

logger = logging.getLogger(__name__)

PREFIX = "/api/integration/v1/"
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


# --- Problem details (RFC 9457) ------------------------------------------------------------------
# Every answer other than success is a problem document, `Content-Type: application/problem+json`:
# `type`, `title`, `status`, `detail`, and extension members where they help (`errors` for an
# invalid request, the import report for a strict refusal). A `type` of our own is a relative
# reference to its description in docs/integration.md ("Errors"); the others are "about:blank",
# whose `title` is the status's phrase.
PROBLEM_CONTENT_TYPE = "application/problem+json"
INVALID_REQUEST = PREFIX + "problems/invalid-request"
STRICT_REFUSED = PREFIX + "problems/strict-refused"

_TITLES = {
    400: gettext_lazy("Bad Request"),
    401: gettext_lazy("Unauthorized"),
    403: gettext_lazy("Forbidden"),
    404: gettext_lazy("Not Found"),
    405: gettext_lazy("Method Not Allowed"),
    409: gettext_lazy("Conflict"),
    413: gettext_lazy("Content Too Large"),
    415: gettext_lazy("Unsupported Media Type"),
    422: gettext_lazy("Unprocessable Content"),
    429: gettext_lazy("Too Many Requests"),
    500: gettext_lazy("Internal Server Error"),
}


def problem(
    status: int, detail, *, type: str = "about:blank", title=None, headers=None, **extensions
):
    """The problem document for ``status``; ``extensions`` never override the four members."""
    body = {
        "type": type,
        "title": str(title or _TITLES.get(status) or HTTPStatus(status).phrase),
        "status": status,
        "detail": str(detail),
    }
    body.update((name, value) for name, value in extensions.items() if name not in body)
    # ASCII with \u escapes, as django-ninja writes its answers: a reason that quotes a lone
    # surrogate from the request could not be encoded as UTF-8.
    response = HttpResponse(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class ApiProblem(HttpError):
    """Raised by an operation to answer ``status`` with a problem document (the handler below)."""

    def __init__(self, status: int, detail, *, type="about:blank", title=None, headers=None, **ext):
        super().__init__(status, str(detail))
        self.detail, self.type, self.title = detail, type, title
        self.headers, self.extensions = headers or {}, ext

    def response(self) -> HttpResponse:
        return problem(
            self.status_code,
            self.detail,
            type=self.type,
            title=self.title,
            headers=self.headers,
            **self.extensions,
        )


class Problem(Schema):
    """RFC 9457 problem details: every answer of the API other than success."""

    type: str = Field(
        description="A URI reference naming the kind of problem: one of ours, described in "
        "docs/integration.md, or about:blank (then `title` is the status's phrase)."
    )
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong with this request, for a person to read.")


class FieldError(Schema):
    """One reason a request did not match the schema: where (`pointer` into the body, or the
    query or path `parameter`) and what."""

    location: str = Field(description="body, query or path")
    pointer: str | None = Field(None, description="A JSON Pointer into the body, e.g. #/status.")
    parameter: str | None = Field(None, description="The query or path parameter.")
    detail: str


class InvalidRequestProblem(Problem):
    """422, type `…/problems/invalid-request`: a parameter or the body does not match the
    schema."""

    errors: list[FieldError]


class ServerErrorProblem(Problem):
    """500: something failed on our side; the answer says nothing more than the request id under
    which it was logged."""

    request_id: str


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


class ImportRefusedProblem(Problem, ImportReportOut):
    """422, type `…/problems/strict-refused`: `strict=true` and a row was rejected, so nothing
    was imported; the import report's members (`committed: false`, the counts, the `errors` with
    their line numbers) are extension members."""


def problem_responses(*statuses: int, invalid=InvalidRequestProblem) -> dict:
    """The problem schema of each status an operation can answer besides success; every
    operation can also answer 401, 403, 429 and 500."""
    schemas = {401: Problem, 403: Problem, 429: Problem, 500: ServerErrorProblem}
    for status in statuses:
        schemas[status] = invalid if status == 422 else Problem
    return dict(sorted(schemas.items()))


class IntegrationAPI(NinjaAPI):
    """django-ninja's API with problem details outside the operations too (an unknown path under
    the prefix, a method the path does not have), and a schema that says which answers are
    problem documents and which headers come with them."""

    @property
    def urls(self):
        patterns, app_name, namespace = super().urls
        for pattern in patterns:
            pattern.callback = _problems_outside_operations(pattern.callback)
        patterns.append(re_path(r"^.*$", _unknown_path))
        return patterns, app_name, namespace

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        for operations in schema["paths"].values():
            for operation in operations.values():
                for status, response in operation["responses"].items():
                    content = response.get("content", {})
                    if int(status) >= 400 and "application/json" in content:
                        content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
                    if headers := _RESPONSE_HEADERS.get(int(status)):
                        response["headers"] = headers
        return schema


_RESPONSE_HEADERS = {
    401: {
        "WWW-Authenticate": {
            "description": "Bearer, the scheme to authenticate with.",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        }
    },
}


def _problems_outside_operations(view):
    """Wrap one of django-ninja's URL views: its 405 (plain text) and the 404 its root view
    raises become problem documents."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            return _unknown_path(request)
        if isinstance(response, HttpResponseNotAllowed):
            return problem(
                405,
                _("%(method)s is not allowed here; this path allows %(allowed)s.")
                % {"method": request.method, "allowed": response["Allow"]},
                headers={"Allow": response["Allow"]},
            )
        return response

    return wrapper


@csrf_exempt
def _unknown_path(request, *args, **kwargs):
    return problem(
        404,
        _("There is no %(path)s in the integration API; see its schema, %(schema)s.")
        % {"path": request.path, "schema": PREFIX + "openapi.json"},
    )


api = IntegrationAPI(
    title="powerhall integration API",
    version="1",
    description=(
        "For the billing system (CIS): import electricity accounts, bills and payments made "
        "through other channels, and read the portal's payments and reconnection requests. "
        "Bearer token per integration client, created by staff. Every answer other than success "
        "is an RFC 9457 problem document (application/problem+json). See docs/integration.md."
    ),
    urls_namespace="integration",
    docs_url=None,
    auth=ClientToken(),
)


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if isinstance(exc, ApiProblem):
        return exc.response()
    if exc.status_code == 400:
        # django-ninja's only HttpError of its own: a JSON body it cannot parse.
        return problem(400, _("The body is not valid JSON."))
    return problem(exc.status_code, str(exc))


@api.exception_handler(AuthenticationError)
def _unauthorised(request, exc):
    return problem(
        401,
        _("A valid bearer token of an active integration client is required."),
        headers={"WWW-Authenticate": 'Bearer realm="powerhall integration"'},
    )


@api.exception_handler(ValidationError)
def _invalid_request(request, exc: ValidationError):
    return problem(
        422,
        _("The request does not match the schema: see errors."),
        type=INVALID_REQUEST,
        title=_("Invalid request"),
        errors=[_field_error(error) for error in exc.errors],
    )


def _field_error(error: dict) -> dict:
    """django-ninja's ``loc`` is (source, name, …): for the body, the operation's parameter name
    and then the path into the JSON, which becomes a JSON Pointer (RFC 6901)."""
    source, *where = error.get("loc") or ("body",)
    found = {"location": str(source), "detail": str(error.get("msg", ""))}
    if source == "body":
        steps = (str(step).replace("~", "~0").replace("/", "~1") for step in where[1:])
        found["pointer"] = "#" + "".join("/" + step for step in steps)
    else:
        found["parameter"] = str(where[0]) if where else ""
    return found


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _unknown_path(request)


@api.exception_handler(RequestDataTooBig)
def _too_large(request, exc):
    return problem(413, _("The body is too large."))


@api.exception_handler(SuspiciousOperation)
def _suspicious(request, exc):
    return problem(400, _("The request cannot be understood."))


@api.exception_handler(Exception)
def _crashed(request, exc):
    """Anything unexpected: the traceback goes to the log under the request id, the client gets
    that id and nothing else."""
    logger.error(
        "integration API: unexpected error on %s %s", request.method, request.path, exc_info=exc
    )
    context = request_context.current()
    return problem(
        500,
        _(
            "The request failed on our side. It has been logged; quote the request id when you "
            "report it."
        ),
        request_id=context.request_id if context else "",
    )


def check_client(request, scope: str) -> None:
    """Raises the problem that refuses the authenticated client: over its rate limit (429) or
    without ``scope`` (403)."""
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
        raise ApiProblem(
            429,
            _("Too many requests from this client. Try again later."),
            headers={"Retry-After": str(window)},
        )
    if not client.has_scope(scope):
        raise ApiProblem(
            403, _("This client does not have the %(scope)s scope.") % {"scope": scope}
        )


def import_body(request, *, scope: str, run_import, strict: bool, file_name: str):
    """What every import endpoint does: check the client, spool the JSON Lines body, run the
    import exactly as its command would, and answer with the report (a 422 problem holding the
    report when ``strict`` refused it)."""
    check_client(request, scope)
    if request.content_type not in JSONL_CONTENT_TYPES:
        raise ApiProblem(
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
        raise ApiProblem(413, too_large % {"limit": limit})

    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as body:
        size = 0
        while chunk := request.read(_READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise ApiProblem(413, too_large % {"limit": limit})
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
            raise ApiProblem(400, error.message) from error
    if not report.committed:
        raise ApiProblem(
            422,
            ngettext(
                "strict=true and %(rejected)s row was rejected, so nothing was imported.",
                "strict=true and %(rejected)s rows were rejected, so nothing was imported.",
                report.rejected,
            )
            % {"rejected": report.rejected},
            type=STRICT_REFUSED,
            title=_("Import refused"),
            **report.as_dict(),
        )
    return report.as_dict()


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


def import_responses(report_schema, refused_schema) -> dict:
    """An import answers its report, or a problem: 400 (the body cannot be read at all), 413,
    415, 422 (an invalid query parameter, or the strict refusal with the report)."""
    return {
        200: report_schema,
        **problem_responses(400, 413, 415, 422, invalid=refused_schema | InvalidRequestProblem),
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
    response=import_responses(ImportReportOut, ImportRefusedProblem),
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
def accounts_import_view(
    request, strict: bool = False, file_name: str = Query("", example="accounts-20261126.jsonl")
):
    """``?strict=true`` refuses the whole body on one bad row; ``?file_name=`` names the batch in
    the audit log (default: "(request body)")."""
    return import_body(
        request,
        scope=IntegrationScope.ACCOUNTS_WRITE,
        run_import=accounts_import,
        strict=strict,
        file_name=file_name,
    )
