"""Importing electricity accounts from the billing system (CIS), the master of account data.

One service, ``accounts_import``, behind both the ``import_accounts`` command and the integration
API's ``POST /accounts``, so a file and an API call are judged by the same rules and answered
with the same report (docs/integration.md):

- every row is checked (the rules are in ``_clean``); a rejected row is reported with its line
  number and every reason, the good rows are imported, unless ``strict``: then one bad row means
  nothing is imported;
- an account is upserted by its number, and a row equal to what is stored is not written at all,
  so importing the same file twice changes nothing, not even ``updated_at``;
- a tariff code no app knows (``known_tariff_codes``: the payments app's tariffs) is imported
  and flagged (``tariff_unknown``) for staff: the billing system is the master of tariff codes;
- the file streams through in batches of BATCH_SIZE rows (one query to fetch the batch's
  existing accounts, one bulk insert, one bulk update), so memory stays flat on a million rows;
- the whole run is one transaction, and its single audit record is that transaction's last write;
- what other apps do about a new account (``accounts_created``: bind the account of a new
  connection to its applicant) happens in the same transaction.
"""

import re
from collections import defaultdict
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from .core import clock
from .core.interchange import ImportReport, RowError, Run, import_run, printable_name
from .core.registry import Registry
from .models import AccountStatus, CustomerClass, IntegrationClient, ServiceAccount
from .phone import normalise_phone

ACCOUNT_COLUMNS = (
    "account_number",
    "holder_name",
    "address",
    "district",
    "feeder",
    "customer_class",
    "tariff_code",
    "status",
    "meter_number",
    "phone",
    "email",
)
# Every column must be in the file; these may be left empty (JSON Lines: "" or null).
OPTIONAL_VALUES = frozenset({"feeder", "phone", "email"})
# The columns as ServiceAccount fields, compared with what is stored before anything is written.
FIELD_FOR_COLUMN = {column: column for column in ACCOUNT_COLUMNS} | {"account_number": "number"}
BATCH_SIZE = 1000
AUDIT_ACTION = "accounts.imported"

# ASCII digits only: "\d" would also let full-width digits (０-９) typed by an IME through.
_ACCOUNT_NUMBER_RE = re.compile(r"^[0-9]{6,20}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_MAX_LENGTH = {
    column: ServiceAccount._meta.get_field(field).max_length
    for column, field in FIELD_FOR_COLUMN.items()
}
_CHOICES = {"customer_class": CustomerClass.values, "status": AccountStatus.values}

# The tariff codes the portal has a definition for. ``provider() -> Iterable[str]``.
known_tariff_codes = Registry("known tariff codes")

# Accounts the import has just created, in its transaction: the applications app binds the one a
# new connection was assigned to its applicant. ``provider(*, accounts: list[ServiceAccount])``.
accounts_created = Registry("accounts created")


def _text_problems(column: str, value) -> list[str]:
    """Problems shared by every column: type, presence, control characters, length."""
    if value is not None and not isinstance(value, str):
        return [_("%(column)s must be text (in quotes)") % {"column": column}]
    if not value:
        return [] if column in OPTIONAL_VALUES else [_("%(column)s is empty") % {"column": column}]
    problems = []
    if _CONTROL_RE.search(value):
        problems.append(
            _("%(column)s contains a line break or another control character") % {"column": column}
        )
    limit = _MAX_LENGTH[column]
    # The account number's own rule says more, and a phone is measured once normalised.
    if len(value) > limit and column not in ("account_number", "phone"):
        problems.append(
            _("%(column)s is longer than %(limit)s characters") % {"column": column, "limit": limit}
        )
    return problems


def _choice_problem(column: str, value: str, choices: list[str]) -> str | None:
    if value in choices:
        return None
    return _('%(column)s must be one of %(choices)s, not "%(value)s"') % {
        "column": column,
        "choices": ", ".join(choices),
        "value": value,
    }


def _clean(record: dict, *, known_tariffs: frozenset[str]) -> tuple[dict, list[str]]:
    """The row as ServiceAccount field values, and every problem found in it (empty: accepted).

    ``number`` is set whenever the account number itself is well formed, even if other columns
    are not, so that the caller can still catch a number repeated further down the file.
    """
    problems = []
    values = {}
    for column in ACCOUNT_COLUMNS:
        value = record.get(column)
        column_problems = _text_problems(column, value)
        problems += column_problems
        values[FIELD_FOR_COLUMN[column]] = "" if column_problems or value is None else value

    number = values.pop("number")
    if number and not _ACCOUNT_NUMBER_RE.match(number):
        problems.append(_("account_number must be 6 to 20 digits"))
        number = ""
    for column, choices in _CHOICES.items():
        if values[column] and (problem := _choice_problem(column, values[column], choices)):
            problems.append(problem)
    if values["phone"]:
        try:
            values["phone"] = normalise_phone(values["phone"])
        except ValidationError as error:
            problems.append(_("phone: %(reason)s") % {"reason": " ".join(error.messages)})
    if values["email"]:
        try:
            validate_email(values["email"])
        except ValidationError:
            problems.append(_("email is not a valid e-mail address"))
    values["tariff_unknown"] = values["tariff_code"] not in known_tariffs
    values["number"] = number
    return values, problems


def _write_batch(batch: dict[str, dict], report: ImportReport, now) -> list[ServiceAccount]:
    """Upsert one batch (number → field values): one query to read, one to insert, and one
    update per combination of changed columns (usually one or two: a status, an address)."""
    existing = ServiceAccount.objects.filter(number__in=list(batch)).in_bulk(field_name="number")
    new = []
    # bulk_update writes "CASE WHEN id = … THEN …" for every row and every field it is given, so
    # rows are grouped by what changed and only those fields are written: a batch where a few
    # statuses changed costs one small CASE, not one per column.
    changed: dict[tuple[str, ...], list[ServiceAccount]] = defaultdict(list)
    for number, values in batch.items():
        account = existing.get(number)
        if account is None:
            new.append(ServiceAccount(number=number, **values))
            continue
        fields = tuple(name for name, value in values.items() if getattr(account, name) != value)
        if fields:
            for name in fields:
                setattr(account, name, values[name])
            account.updated_at = now  # bulk_update does not apply auto_now
            changed[fields].append(account)
    ServiceAccount.objects.bulk_create(new)
    for fields, accounts in changed.items():
        ServiceAccount.objects.bulk_update(accounts, [*fields, "updated_at"])
    updated = sum(len(accounts) for accounts in changed.values())
    report.created += len(new)
    report.updated += updated
    report.unchanged += len(batch) - len(new) - updated
    return new


class _AccountImport:
    """Accounts, as ``import_run`` drives them (portal/core/interchange.py)."""

    # Two imports at once would race to insert the same new numbers: they queue instead.
    lock = "powerhall.accounts_import"
    audit_action = AUDIT_ACTION
    required = frozenset(ACCOUNT_COLUMNS)

    def __init__(self):
        self.run: Run | None = None
        self.known_tariffs: frozenset[str] = frozenset()
        self.now = None

    def optional(self, fmt: str) -> frozenset[str]:
        return frozenset()

    def begin(self, run: Run) -> None:
        self.run = run
        # A few hundred codes at most: read once, not per row.
        self.known_tariffs = frozenset(
            code for provider in known_tariff_codes for code in provider()
        )
        self.now = clock.now()

    def clean(self, line: int, record: dict) -> tuple[dict, str, list[str]]:
        values, problems = _clean(record, known_tariffs=self.known_tariffs)
        return values, values["number"], problems

    def duplicate(self, key: str, first: int) -> str:
        return _("account number %(number)s already appears on line %(first)s") % {
            "number": key,
            "first": first,
        }

    def write(self, batch: list[dict]) -> None:
        report = self.run.report
        report.flagged += sum(values["tariff_unknown"] for values in batch)
        if self.run.keeping:
            new = _write_batch({values.pop("number"): values for values in batch}, report, self.now)
            if new:
                for provider in accounts_created:
                    provider(accounts=new)


def accounts_import(
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
    """Import the accounts in ``stream`` (binary, CSV or JSON Lines) and report what happened;
    the contract of ``portal.core.interchange.import_run`` (errors, rejects, progress, who
    asked)."""
    file_name = printable_name(file_name)
    return import_run(
        _AccountImport(),
        stream=stream,
        fmt=fmt,
        report=ImportReport(file_name=file_name, format=fmt, strict=strict),
        actor=actor,
        client=client,
        on_reject=on_reject,
        on_progress=on_progress,
        batch_size=batch_size,
    )
