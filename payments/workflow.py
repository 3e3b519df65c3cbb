"""Which status may follow which, for the payments app's statuses (portal.core.transitions).
``transition`` is the only code that changes these statuses; each change leaves an audit record
``<workflow>.<status>`` (docs/payments.md, docs/architecture.md)."""

from portal.core.transitions import Workflow

from .models import AttemptStatus, InvoiceStatus

_PENDING, _PROCESSING, _SUCCEEDED = (
    AttemptStatus.PENDING,
    AttemptStatus.PROCESSING,
    AttemptStatus.SUCCEEDED,
)
_FAILED, _CANCELLED, _EXPIRED = AttemptStatus.FAILED, AttemptStatus.CANCELLED, AttemptStatus.EXPIRED

ATTEMPT = Workflow(
    "payment",
    {
        _PENDING: {_PROCESSING, _SUCCEEDED, _FAILED, _CANCELLED, _EXPIRED},
        _PROCESSING: {_SUCCEEDED, _FAILED, _CANCELLED},
        # A declined card: the customer may try again the same day, or give up.
        _FAILED: {_PROCESSING, _SUCCEEDED, _CANCELLED, _EXPIRED},
        # Money the provider took after we cancelled or expired the attempt (a payment racing
        # its cancellation) is still credited: never left unaccounted for.
        _CANCELLED: {_SUCCEEDED},
        _EXPIRED: {_SUCCEEDED},
        # Refunds do not change it: the attempt keeps what was refunded (``refunded``).
        _SUCCEEDED: set(),
    },
)
"""An online payment (``PaymentAttempt``)."""

INVOICE = Workflow(
    "invoice",
    {
        # What the billing system may report. Issued and rejected are final: a rejected request
        # stays rejected and the customer makes a new one.
        InvoiceStatus.REQUESTED: {InvoiceStatus.ISSUED, InvoiceStatus.REJECTED},
        InvoiceStatus.ISSUED: set(),
        InvoiceStatus.REJECTED: set(),
    },
)
"""A VAT invoice request (``InvoiceRequest``)."""
