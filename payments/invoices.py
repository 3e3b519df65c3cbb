"""VAT invoice requests (增值税发票) for online payments.

The portal does not issue invoices: the billing system does. A business asks for one on a
succeeded payment with the details an invoice carries (title, taxpayer number, registered
address and telephone, bank and account, an e-mail to send it to); ``invoice_request_create``
checks them, records the request and, in the same transaction, writes the billing export's
message (kind ``invoice_request``) that hands it to the billing system (payments/export.py).
The billing system reports back through the integration API (``invoice_status_set``): issued,
with the invoice's number, or rejected, with a note; the portal shows that status.

Who may ask: the person who paid, and for a payment made for an organisation also any of its
administrators (``invoice_attempt_get_for``). One open request per payment (database constraint
``invoice_one_open_per_payment``); after a rejection a new one may be made.

The taxpayer number of a business is its unified social credit code (统一社会信用代码, GB
32100-2015: 18 characters, the last a check character), checked as organisations' codes are
(portal/organisations.py).
"""

import re
import unicodedata
from dataclasses import dataclass
from uuid import UUID

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from stdnum.cn import uscc as uscc_checker
from stdnum.exceptions import ValidationError as StdnumValidationError

from portal.core.audit import audit_record
from portal.core.errors import InvalidInput, NotAllowed, PowerhallError
from portal.core.transitions import transition
from portal.models import IntegrationClient, MemberRole, Membership, User
from portal.organisations import UsccInvalid, uscc_normalise

from .models import (
    AttemptStatus,
    BillingExport,
    ExportKind,
    InvoiceRequest,
    InvoiceStatus,
    PaymentAttempt,
)
from .workflow import INVOICE

BANK_ACCOUNT_DIGITS = (8, 30)
PHONE_DIGITS = (7, 20)
_PHONE_RE = re.compile(r"\+?[0-9][0-9 ()\-]*")
# The details an invoice carries, in the order the form and the billing system's message use.
DETAIL_FIELDS = ("title", "tax_number", "address", "phone", "bank_name", "bank_account", "email")


# --- Errors -------------------------------------------------------------------------------------
class InvoiceDetailsInvalid(InvalidInput):
    """Some of the details are wrong; ``errors`` says which (field name → message)."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__(_("Please correct the details below."))


class InvoiceAlreadyRequested(InvalidInput):
    default_message = gettext_lazy(
        "A VAT invoice has already been requested for this payment. A new request can be made "
        "only if the billing office rejects this one."
    )


class InvoiceNotPossible(InvalidInput):
    default_message = gettext_lazy(
        "This payment was refunded in full, so no VAT invoice can be issued for it."
    )


class InvoiceUnknown(PowerhallError):
    default_message = gettext_lazy("No VAT invoice request has this identifier.")


class InvoiceStatusConflict(NotAllowed):
    """The billing system reported a status that contradicts the one recorded."""


# --- Reading ------------------------------------------------------------------------------------
def invoice_attempt_get_for(*, user: User, uuid: UUID | str) -> PaymentAttempt:
    """A succeeded online payment ``user`` may ask a VAT invoice for, or 404: one they paid,
    or one paid for an organisation they administer (its members pay; its administrators keep
    the books)."""
    administered = Membership.objects.filter(
        user=user, user__is_active=True, role=MemberRole.ADMIN
    ).values("organisation_id")
    try:
        return (
            PaymentAttempt.objects.select_related("organisation")
            .filter(Q(created_by=user) | Q(organisation_id__in=administered))
            .get(uuid=uuid, status=AttemptStatus.SUCCEEDED)
        )
    except (PaymentAttempt.DoesNotExist, ValueError, ValidationError):
        raise Http404 from None


@dataclass(frozen=True)
class InvoiceState:
    """What the payment's pages show about its VAT invoice."""

    attempt: PaymentAttempt
    requests: list[InvoiceRequest]
    """Every request for the payment, newest first."""

    @property
    def open(self) -> InvoiceRequest | None:
        """The request being handled or issued (at most one); None if all were rejected."""
        return next((r for r in self.requests if r.status != InvoiceStatus.REJECTED), None)

    @property
    def latest(self) -> InvoiceRequest | None:
        return self.requests[0] if self.requests else None

    @property
    def can_request(self) -> bool:
        return (
            self.attempt.status == AttemptStatus.SUCCEEDED
            and self.attempt.refunded < self.attempt.amount
            and self.open is None
        )


def invoice_state_for(*, attempt: PaymentAttempt) -> InvoiceState:
    """The VAT invoice requests of ``attempt`` (already scoped to who asks). One query, none
    for a payment that did not succeed."""
    requests = []
    if attempt.status == AttemptStatus.SUCCEEDED:
        requests = list(attempt.invoice_requests.order_by("-created_at", "-id"))
    return InvoiceState(attempt=attempt, requests=requests)


def invoice_status_annotate(*, attempts: QuerySet[PaymentAttempt]) -> QuerySet[PaymentAttempt]:
    """``attempts`` with ``invoice_status``: the status of each one's latest VAT invoice
    request (None: none asked), in the same query."""
    latest = InvoiceRequest.objects.filter(attempt=OuterRef("pk")).order_by("-created_at", "-id")
    return attempts.annotate(invoice_status=Subquery(latest.values("status")[:1]))


def invoice_initial_for(*, user: User, attempt: PaymentAttempt) -> dict:
    """What the request form starts with: the details of the person's last request for the
    same organisation (or for themselves), the organisation's name and code, their e-mail."""
    previous = (
        InvoiceRequest.objects.filter(
            requested_by=user, attempt__organisation_id=attempt.organisation_id
        )
        .order_by("-created_at", "-id")
        .first()
    )
    initial = {name: getattr(previous, name) for name in DETAIL_FIELDS} if previous else {}
    initial.setdefault("email", user.email)
    if attempt.organisation is not None:
        initial["title"] = attempt.organisation.name
        initial["tax_number"] = attempt.organisation.uscc
    return initial


# --- Checking the details -----------------------------------------------------------------------
def _text(value) -> str:
    """One line, runs of white space as one space. Not NFKC: a company's name is printed as
    registered, full-width brackets included."""
    return " ".join(str(value or "").split())


def _digits(value) -> str:
    """Full-width digits (a Chinese input method) made ASCII; spaces and hyphens dropped."""
    text = unicodedata.normalize("NFKC", str(value or ""))
    return "".join(text.split()).replace("-", "")


def invoice_details_clean(**values) -> dict[str, str]:
    """The invoice details normalised, or ``InvoiceDetailsInvalid`` naming every wrong field."""
    errors: dict[str, str] = {}
    details: dict[str, str] = {}
    limits = {name: InvoiceRequest._meta.get_field(name).max_length for name in DETAIL_FIELDS}
    required = {
        "title": _("Enter the company's name as registered with the tax office."),
        "address": _("Enter the registered address."),
        "phone": _("Enter the registered telephone number."),
        "bank_name": _("Enter the bank where the company has its account."),
        "bank_account": _("Enter the bank account number."),
        "email": _("Enter the e-mail address the invoice is to be sent to."),
    }
    for name in ("title", "address", "bank_name", "email"):
        details[name] = _text(values.get(name))

    tax_number = uscc_normalise(values.get("tax_number") or "")
    try:
        details["tax_number"] = uscc_checker.validate(tax_number)
    except StdnumValidationError:
        errors["tax_number"] = str(UsccInvalid.default_message)

    phone = unicodedata.normalize("NFKC", _text(values.get("phone")))
    details["phone"] = phone
    digit_count = sum(character.isdigit() for character in phone)
    if phone and not (
        _PHONE_RE.fullmatch(phone) and PHONE_DIGITS[0] <= digit_count <= PHONE_DIGITS[1]
    ):
        errors["phone"] = _(
            "Enter a telephone number of digits, with the area code, for example 010-88886666."
        )

    account = _digits(values.get("bank_account"))
    details["bank_account"] = account
    low, high = BANK_ACCOUNT_DIGITS
    if account and not (account.isascii() and account.isdigit() and low <= len(account) <= high):
        errors["bank_account"] = _(
            "A bank account number has %(low)d to %(high)d digits and nothing else."
        ) % {"low": low, "high": high}

    if details["email"]:
        try:
            validate_email(details["email"])
        except ValidationError:
            errors["email"] = _("Enter a valid e-mail address.")

    for name, message in required.items():
        if not details.get(name):
            errors[name] = message
        elif len(details[name]) > limits[name]:
            errors.setdefault(
                name,
                _("At most %(count)d characters.") % {"count": limits[name]},
            )
    if errors:
        raise InvoiceDetailsInvalid(errors)
    return details


# --- Requesting ---------------------------------------------------------------------------------
def _money(amount) -> str:
    return f"{amount:.2f}"


def invoice_request_message(request: InvoiceRequest) -> dict:
    """The request as the billing system receives it (docs/integration.md, "VAT invoice
    requests")."""
    attempt = request.attempt
    return {
        "invoice_request": str(request.uuid),
        "payment_reference": attempt.reference,
        "amount": _money(attempt.amount),
        "refunded": _money(attempt.refunded),
        "currency": attempt.currency.upper(),
        "title": request.title,
        "tax_number": request.tax_number,
        "address": request.address,
        "phone": request.phone,
        "bank_name": request.bank_name,
        "bank_account": request.bank_account,
        "email": request.email,
        "requested_at": request.created_at.isoformat(),
    }


def invoice_request_create(*, user: User, attempt: PaymentAttempt, **values) -> InvoiceRequest:
    """Record a VAT invoice request for ``attempt`` (from ``invoice_attempt_get_for``) and hand
    it to the billing system. ``values``: the DETAIL_FIELDS as typed. Refuses, changing nothing,
    wrong details, a payment refunded in full, or a payment with a request still open."""
    details = invoice_details_clean(**values)
    try:
        with transaction.atomic():
            # The attempt's row lock serialises two requests for one payment (a double click),
            # and a refund of it, which locks the attempt first too.
            locked = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
            if locked.status != AttemptStatus.SUCCEEDED or locked.refunded >= locked.amount:
                raise InvoiceNotPossible
            if locked.invoice_requests.exclude(status=InvoiceStatus.REJECTED).exists():
                raise InvoiceAlreadyRequested
            request = InvoiceRequest.objects.create(attempt=locked, requested_by=user, **details)
            event = audit_record(
                action="invoice.requested",
                actor=user,
                obj=request,
                data={
                    "payment_reference": locked.reference,
                    "amount": locked.amount,
                    "title": request.title,
                    "tax_number": request.tax_number,
                },
            )
            BillingExport.objects.create(
                seq=event.seq,
                kind=ExportKind.INVOICE_REQUEST,
                payload=invoice_request_message(request),
            )
    except IntegrityError:
        # invoice_one_open_per_payment: the same request committed in between (SQLite has no
        # row locks, and the constraint is the last word on both engines).
        raise InvoiceAlreadyRequested from None
    return request


# --- The billing system's answer ----------------------------------------------------------------
@dataclass(frozen=True)
class InvoiceStatusResult:
    request: InvoiceRequest
    changed: bool
    """False: the same status was reported again, and nothing changed."""


def invoice_status_set(
    *,
    uuid: UUID | str,
    status: str,
    invoice_number: str = "",
    note: str = "",
    client: IntegrationClient,
) -> InvoiceStatusResult:
    """Record what the billing system (``client``) reports about a request: ``issued`` with the
    invoice's number, or ``rejected`` with a note for the customer. Idempotent: the same status
    reported again changes nothing, unless it names another invoice number (a conflict, as is
    any other change of a final status)."""
    invoice_number = _text(invoice_number)
    note = _text(note)
    if status not in (InvoiceStatus.ISSUED, InvoiceStatus.REJECTED):
        raise InvalidInput(_("The status must be issued or rejected."))
    if status == InvoiceStatus.ISSUED and not invoice_number:
        raise InvalidInput(_("An issued invoice needs its invoice_number."))
    if status == InvoiceStatus.REJECTED and not note:
        raise InvalidInput(_("A rejection needs a note telling the customer why."))
    for name, value in (("invoice_number", invoice_number), ("status_note", note)):
        limit = InvoiceRequest._meta.get_field(name).max_length
        if len(value) > limit:
            raise InvalidInput(
                _("%(field)s has at most %(count)d characters.") % {"field": name, "count": limit}
            )
    with transaction.atomic():
        request = (
            InvoiceRequest.objects.select_for_update(of=("self",))
            .select_related("attempt")
            .filter(uuid=uuid)
            .first()
        )
        if request is None:
            raise InvoiceUnknown
        if request.status == status:
            if status == InvoiceStatus.ISSUED and request.invoice_number != invoice_number:
                raise InvoiceStatusConflict(
                    _("This request was already issued as invoice %(number)s.")
                    % {"number": request.invoice_number}
                )
            return InvoiceStatusResult(request, changed=False)
        if not INVOICE.allows(request.status, status):
            raise InvoiceStatusConflict(
                _("This request is already %(status)s.") % {"status": request.status}
            )
        number = invoice_number if status == InvoiceStatus.ISSUED else ""
        transition(
            request,
            INVOICE,
            to=status,
            changes={"invoice_number": number, "status_note": note},
            actor_role="integration",
            data={
                "client": client.name,
                "payment_reference": request.attempt.reference,
                "invoice_number": number,
                "note": note,
            },
            locked=True,
        )
    return InvoiceStatusResult(request, changed=True)
