"""The payments app's endpoints of the integration API (portal/integration_api.py holds the API,
its authentication and limits): bills and outside payments in, the billing export out, the
billing system's answers to VAT invoice requests. docs/integration.md."""

from typing import Annotated, Literal
from uuid import UUID

from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Schema

from portal.core.errors import InvalidInput
from portal.integration_api import (
    INVALID_REQUEST,
    STRICT_NOTE,
    ApiProblem,
    ImportRefusedProblem,
    ImportReportOut,
    Problem,
    check_client,
    import_body,
    import_responses,
    problem_responses,
    request_body,
)
from portal.models import IntegrationScope

from .bill_import import BILL_COLUMNS, bills_import
from .export import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    export_batch,
    export_cursor,
    export_cursor_advance,
    export_has_more,
    export_last_seq,
)
from .invoices import InvoiceStatusConflict, InvoiceUnknown, invoice_status_set
from .payment_import import PAYMENT_COLUMNS, payments_import

router = Router()


class BillImportReportOut(ImportReportOut):
    replaced: int
    adjusted: int
    cancelled: int


class BillImportRefusedProblem(Problem, BillImportReportOut):
    """422, type `…/problems/strict-refused`: `strict=true` and a row was rejected, so nothing
    was imported; the bill import report's members are extension members."""


@router.post(
    "/bills",
    operation_id="bills_import",
    summary="Import bills (JSON Lines)",
    description=(
        "Creates bills by bill number, or replaces, adjusts or cancels a known one, exactly as "
        "`manage.py import_bills` does, and answers with the same report. " + STRICT_NOTE
    ),
    response=import_responses(BillImportReportOut, BillImportRefusedProblem),
    openapi_extra=request_body(
        (*BILL_COLUMNS, "status (optional)", "lines (optional)"),
        {
            "bill_number": "B202610000123",
            "account_number": "3100012345",
            "period_start": "2026-10-01",
            "period_end": "2026-10-31",
            "issue_date": "2026-11-05",
            "due_date": "2026-11-20",
            "kwh": "260",
            "amount": "128.46",
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
def bills_import_view(
    request, strict: bool = False, file_name: str = Query("", example="bills-20261103.jsonl")
):
    """Same query parameters as ``/accounts``."""
    return import_body(
        request,
        scope=IntegrationScope.BILLS_WRITE,
        run_import=bills_import,
        strict=strict,
        file_name=file_name,
    )


@router.post(
    "/payments",
    operation_id="payments_import",
    summary="Import payments made through other channels (JSON Lines)",
    description=(
        "Posts payments made at a counter, by bank direct debit or in another app, idempotent by "
        "payment reference, exactly as `manage.py import_payments` does, and answers with the "
        "same report. " + STRICT_NOTE
    ),
    response=import_responses(ImportReportOut, ImportRefusedProblem),
    openapi_extra=request_body(
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
def payments_import_view(
    request, strict: bool = False, file_name: str = Query("", example="payments-20261112.jsonl")
):
    """Same query parameters as ``/accounts``."""
    return import_body(
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


@router.get(
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
    response={200: ExportOut, **problem_responses(400, 422)},
)
def payments_export_view(
    request,
    after: int | None = Query(None, ge=0),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, example=DEFAULT_LIMIT),
):
    """``?after=<cursor>`` confirms the messages up to it; ``?limit=`` (1 to 1000, default
    100) bounds the answer."""
    check_client(request, IntegrationScope.PAYMENTS_READ)
    consumer = f"client:{request.auth.pk}"
    if after is None:
        after = export_cursor(consumer=consumer)
    elif after > export_last_seq():
        # A cursor we never handed out: storing it would skip messages not yet written.
        raise ApiProblem(
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


@router.post(
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
    response={200: InvoiceStatusOut, **problem_responses(400, 404, 409, 413, 422)},
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "example": {"status": "issued", "invoice_number": "25117000000012345678"}
                }
            }
        }
    },
)
def invoice_status_view(
    request,
    uuid: Annotated[UUID, Path(example="6f1c2a9e-4b7d-4e2a-9c1b-3d5e7f9a0b12")],
    body: InvoiceStatusIn,
):
    """``uuid``: the `invoice_request` of the export's message."""
    check_client(request, IntegrationScope.INVOICES_WRITE)
    try:
        result = invoice_status_set(
            uuid=uuid,
            status=body.status,
            invoice_number=body.invoice_number,
            note=body.note,
            client=request.auth,
        )
    except InvoiceUnknown as error:
        raise ApiProblem(404, error.message) from error
    except InvoiceStatusConflict as error:
        raise ApiProblem(409, error.message) from error
    except InvalidInput as error:
        # The body parsed, but its fields do not go together (issued without a number…).
        raise ApiProblem(
            422,
            error.message,
            type=INVALID_REQUEST,
            title=_("Invalid request"),
            errors=[{"location": "body", "pointer": "#", "detail": str(error.message)}],
        ) from error
    invoice = result.request
    return {
        "invoice_request": str(invoice.uuid),
        "payment_reference": invoice.attempt.reference,
        "status": invoice.status,
        "invoice_number": invoice.invoice_number,
        "note": invoice.status_note,
        "changed": result.changed,
    }
