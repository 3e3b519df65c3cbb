"""The payments app's data, by topic: ``tariffs`` (tariffs, price versions, penalty rules),
``bills``, ``ledger``, ``online`` (online payments, webhooks, refunds, the billing export) and
``documents`` (receipts, VAT invoice requests); ``fields`` holds the column shapes.

The billing system (CIS) is the master of bills and of outside payments; the portal imports
them, explains them and computes what is owed today. Every change to what a customer owes or has
paid is a ``LedgerEntry`` of balanced ``LedgerLine`` rows (docs/bills.md): append-only in the
database, as the audit log is. Bill amounts paid and outstanding are *derived* from the ledger
(``payments.ledger.bills_refresh``) and stored on the bill only so lists can filter and sort.
"""

from .bills import (
    Bill,
    BillLine,
    BillRevision,
    BillStatus,
    LineKind,
    RevisionKind,
)
from .documents import (
    DocumentSequence,
    InvoiceRequest,
    InvoiceStatus,
    Receipt,
    ReceiptKind,
)
from .ledger import (
    Book,
    EntryKind,
    LedgerEntry,
    LedgerLine,
    OutsidePayment,
    PaymentChannel,
)
from .online import (
    OPEN_ATTEMPT_STATUSES,
    AttemptBill,
    AttemptStatus,
    BillingExport,
    ExportCursor,
    ExportKind,
    Gateway,
    LocalIntent,
    PaymentAttempt,
    ReconnectionRequest,
    Refund,
    RefundStatus,
    WebhookEvent,
    WebhookStatus,
)
from .tariffs import (
    PenaltyRule,
    Tariff,
    TariffBand,
    TariffKind,
    TariffVersion,
    TierPeriod,
)

__all__ = [
    "AttemptBill",
    "AttemptStatus",
    "Bill",
    "BillLine",
    "BillRevision",
    "BillStatus",
    "BillingExport",
    "Book",
    "DocumentSequence",
    "EntryKind",
    "ExportCursor",
    "ExportKind",
    "Gateway",
    "InvoiceRequest",
    "InvoiceStatus",
    "LedgerEntry",
    "LedgerLine",
    "LineKind",
    "LocalIntent",
    "OPEN_ATTEMPT_STATUSES",
    "OutsidePayment",
    "PaymentAttempt",
    "PaymentChannel",
    "PenaltyRule",
    "Receipt",
    "ReceiptKind",
    "ReconnectionRequest",
    "Refund",
    "RefundStatus",
    "RevisionKind",
    "Tariff",
    "TariffBand",
    "TariffKind",
    "TariffVersion",
    "TierPeriod",
    "WebhookEvent",
    "WebhookStatus",
]
