"""Importing payments made through other channels (counter, bank direct debit 代扣, other apps),
as the billing system reports them, so that nobody pays twice.

One service, ``payments_import``, behind both the ``import_payments`` command and the integration
API's ``POST /payments``, built like the bill import and answering with the same report
(docs/integration.md):

- every row is checked; a rejected row is reported with its line number and every reason, and the
  good rows are imported, unless ``strict``: then one bad row means nothing is imported;
- ``paid_at`` must be plausible (``Bounds``): not later than now plus a few minutes of clock
  skew, not older than a bounded number of years; checked before anything converts it to
  Beijing time, which would overflow for year 1 or 9999;
- idempotent by ``payment_reference``: a reference imported before is left alone when the row is
  identical (counted unchanged) and rejected when it differs; a reference repeated within one
  file is rejected naming its first line;
- each payment locks its bill and goes through ``payments.bills.bill_payment_post``, as a payment
  on the portal will: to the bill's amount first, then (charged that day, when it stops
  accruing) to the penalty, the rest to credit on the account. Its business date is the
  Asia/Shanghai date of ``paid_at``;
- payments towards one bill must arrive in the order they were made: one dated before the latest
  payment already recorded on the bill is rejected. Posting it would split money between amount
  and penalty differently from what happened, and the ledger is append-only, so the row is sent
  back rather than mis-posted. Rows are applied in file order;
- the whole run is one transaction, and its single audit record is that transaction's last write.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Max
from django.utils.translation import gettext as _

from portal.core import clock
from portal.core.interchange import (
    Bounds,
    ImportReport,
    RowError,
    Run,
    decimal_value,
    import_run,
    printable_name,
    shown,
    text_value,
)
from portal.models import IntegrationClient

from .bill_import import LOCK
from .bills import bill_payment_post, penalty_rules
from .ledger import bills_refresh
from .models import Bill, BillStatus, EntryKind, LedgerLine, OutsidePayment, PaymentChannel

PAYMENT_COLUMNS = ("payment_reference", "bill_number", "amount", "paid_at", "channel")
# The portal's own channel is not the billing system's to report.
CHANNELS = (PaymentChannel.COUNTER, PaymentChannel.BANK_DEBIT, PaymentChannel.OTHER_APP)
BATCH_SIZE = 500
AUDIT_ACTION = "payments.imported"

_REFERENCE_MAX = OutsidePayment._meta.get_field("reference").max_length
_DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?"
)


@dataclass(slots=True)
class _Payment:
    line: int
    reference: str
    bill_number: str
    amount: Decimal
    paid_at: datetime
    channel: str

    @property
    def on_date(self) -> date:
        """The business date: the payment's Asia/Shanghai calendar day."""
        return clock.business_date(self.paid_at)


def _paid_at(value, problems: list[str]) -> datetime | None:
    """ISO 8601 date and time; without an offset it is Asia/Shanghai time."""
    if not isinstance(value, str) or not value:
        problems.append(
            _("paid_at must be a date and time like 2026-11-05T14:30:00+08:00")
            if value
            else _("paid_at is empty")
        )
        return None
    if not _DATETIME_RE.fullmatch(value):
        problems.append(
            _('paid_at must be a date and time like 2026-11-05T14:30:00+08:00, not "%(value)s"')
            % {"value": shown(value)}
        )
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        problems.append(_("paid_at: %(value)s is not a time that exists") % {"value": value})
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=clock.BUSINESS_TIME_ZONE)


def _paid_at_plausible(paid_at: datetime, bounds: Bounds) -> str | None:
    """Why ``paid_at`` is not a time a payment can have been made, or None. Aware datetimes
    compare without converting, so year 1 or 9999 in any offset is refused here, before
    anything converts it to Beijing time (which would overflow)."""
    if paid_at > bounds.paid_latest:
        return _(
            "paid_at is in the future: %(value)s is more than %(skew)s seconds after the "
            "portal's clock (%(now)s)"
        ) % {
            "value": paid_at.isoformat(),
            "skew": int(bounds.clock_skew.total_seconds()),
            "now": clock.localtime(bounds.now).isoformat(timespec="seconds"),
        }
    if paid_at < clock.day_start(bounds.paid_earliest):
        return _(
            "paid_at %(value)s is more than %(years)s year(s) ago: the earliest accepted is "
            "%(earliest)s (Beijing time)"
        ) % {
            "value": paid_at.isoformat(),
            "years": bounds.payment_years_back,
            "earliest": bounds.paid_earliest.isoformat(),
        }
    return None


def _clean(line: int, record: dict, *, bounds: Bounds) -> tuple[_Payment | None, str, list[str]]:
    """(the payment, its reference if well formed, every problem found in the row)."""
    problems: list[str] = []
    reference = text_value(
        "payment_reference", record["payment_reference"], problems, max_length=_REFERENCE_MAX
    )
    bill_number = text_value("bill_number", record["bill_number"], problems, max_length=40)
    amount = decimal_value(
        "amount", record["amount"], problems, positive=True, maximum=bounds.max_amount
    )
    paid_at = _paid_at(record["paid_at"], problems)
    channel = record["channel"]
    if channel not in CHANNELS:
        problems.append(
            _('channel must be one of %(choices)s, not "%(value)s"')
            % {"choices": ", ".join(CHANNELS), "value": shown(channel)}
        )
    if paid_at is not None and (problem := _paid_at_plausible(paid_at, bounds)):
        problems.append(problem)
    if problems:
        return None, reference, problems
    return _Payment(line, reference, bill_number, amount, paid_at, channel), reference, []


def _differences(payment: _Payment, stored: OutsidePayment) -> list[str]:
    """How a row differs from the payment imported before under its reference."""
    differences = []
    if stored.bill.number != payment.bill_number:
        differences.append(_("bill %(bill)s") % {"bill": stored.bill.number})
    if stored.amount != payment.amount:
        differences.append(_("amount %(amount)s") % {"amount": stored.amount})
    if stored.paid_at != payment.paid_at:
        local = clock.localtime(stored.paid_at).isoformat()
        differences.append(_("paid at %(paid_at)s") % {"paid_at": local})
    if stored.channel != payment.channel:
        differences.append(_("channel %(channel)s") % {"channel": stored.channel})
    return differences


class _PaymentImport:
    """Outside payments, as ``import_run`` drives them (portal/core/interchange.py). They share
    the bill import's lock: a payment must not land on a bill a concurrent import replaces."""

    lock = LOCK
    audit_action = AUDIT_ACTION
    required = frozenset(PAYMENT_COLUMNS)

    def __init__(self, *, file_name: str, actor):
        self.file_name, self.actor = file_name, actor
        self.run: Run | None = None
        self.rules: list = []
        self.bounds: Bounds | None = None

    def optional(self, fmt: str) -> frozenset[str]:
        return frozenset()

    def begin(self, run: Run) -> None:
        self.run, self.rules, self.bounds = run, penalty_rules(), Bounds.current()

    def clean(self, line: int, record: dict) -> tuple[_Payment | None, str, list[str]]:
        return _clean(line, record, bounds=self.bounds)

    def duplicate(self, key: str, first: int) -> str:
        return _("payment reference %(reference)s already appears on line %(first)s") % {
            "reference": key,
            "first": first,
        }

    def write(self, batch: list[_Payment]) -> None:
        """Post one batch in file order: lock its bills, skip what was imported before, and
        post the rest. A few queries to read, then a handful per payment."""
        stored = {
            p.reference: p
            for p in OutsidePayment.objects.select_related("bill").filter(
                reference__in=[payment.reference for payment in batch]
            )
        }
        # Locked in id order, like any code that locks several bills, so two never deadlock.
        bills = {
            bill.number: bill
            for bill in Bill.objects.select_for_update(of=("self",))
            .select_related("account")
            .filter(number__in={payment.bill_number for payment in batch})
            .order_by("pk")
        }
        last_paid: dict[int, date] = dict(
            LedgerLine.objects.filter(bill__in=list(bills.values()), entry__kind=EntryKind.PAYMENT)
            .values("bill_id")
            .annotate(last=Max("entry__effective_date"))
            .values_list("bill_id", "last")
        )
        imported = []
        for payment in batch:
            if payment.reference in stored:
                if differences := _differences(payment, stored[payment.reference]):
                    self.run.reject(
                        payment.line,
                        _(
                            "payment reference %(reference)s was imported before with other "
                            "values (%(values)s)"
                        )
                        % {"reference": payment.reference, "values": ", ".join(differences)},
                    )
                else:
                    self.run.report.unchanged += 1
                continue
            bill = bills.get(payment.bill_number)
            if bill is None:
                self.run.reject(
                    payment.line,
                    _("bill %(bill)s is not known: import the bill first")
                    % {"bill": payment.bill_number},
                )
                continue
            last = last_paid.get(bill.pk)
            if last is not None and payment.on_date < last:
                self.run.reject(
                    payment.line,
                    _(
                        "bill %(bill)s already has a payment dated %(last)s, after this one: "
                        "payments towards a bill must arrive in the order they were made"
                    )
                    % {"bill": bill.number, "last": last.isoformat()},
                )
                continue
            last_paid[bill.pk] = payment.on_date
            if not self.run.keeping:
                continue  # nothing will be kept: only look for more errors
            if bill.status == BillStatus.CANCELLED:
                self.run.report.flagged += 1  # all of it becomes credit on the account
            entry = bill_payment_post(
                bill=bill,
                amount=payment.amount,
                on_date=payment.on_date,
                channel=payment.channel,
                reference=payment.reference,
                rules=self.rules,
                posted_by=self.actor,
                memo=f"{self.file_name} line {payment.line}"[:200],
                refresh=False,  # once for the batch, below
            )
            imported.append(
                OutsidePayment(
                    reference=payment.reference,
                    bill=bill,
                    amount=payment.amount,
                    paid_at=payment.paid_at,
                    channel=payment.channel,
                    entry=entry,
                )
            )
        OutsidePayment.objects.bulk_create(imported)
        bills_refresh(bill_ids={payment.bill_id for payment in imported})
        self.run.report.created += len(imported)


def payments_import(
    *,
    stream,
    fmt: str,
    file_name: str,
    strict: bool = False,
    actor=None,
    client: IntegrationClient | None = None,
    on_reject: Callable[[RowError], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Import the outside payments in ``stream`` (binary, CSV or JSON Lines) and report what
    happened. Same contract as ``portal.core.interchange.import_run``: ``InterchangeError`` when
    the file cannot be read at all, ``on_reject`` per rejected row, ``on_progress`` with the rows
    handled since its last call; ``actor`` or ``client`` is who asked.

    ``flagged`` counts payments towards a cancelled bill: nothing is owed on it, so all of the
    money is held as credit on the account.
    """
    file_name = printable_name(file_name)
    return import_run(
        _PaymentImport(file_name=file_name, actor=actor),
        stream=stream,
        fmt=fmt,
        report=ImportReport(file_name=file_name, format=fmt, strict=strict),
        actor=actor,
        client=client,
        on_reject=on_reject,
        on_progress=on_progress,
        batch_size=batch_size,
    )
