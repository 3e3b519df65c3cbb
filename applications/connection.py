"""What a case tells the billing system, and how a new connection's account reaches its applicant
(docs/applications.md, "The billing system").

- When a case has done a step whose ``KindStep.billing_message`` is set (the first versions: a new
  connection once energised, a change of holder once the contract is signed, a suspension or a
  closing once handled), the billing system is sent that message through the billing export, in
  the transaction that moves the case (``portal.billing_messages``).
- The billing system answers a new connection with an account number, which staff record on the
  case. The account is bound to the applicant (or their organisation) as soon as it exists: at
  once if the account import has brought it already, otherwise when it does
  (``accounts_arrived``, called by the import in its own transaction).
"""

import re

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from portal.billing_messages import billing_message_send
from portal.binding import account_bind_assigned
from portal.core import clock
from portal.core.audit import audit_record
from portal.core.errors import InvalidInput, NotAllowed
from portal.models import ServiceAccount, User

from .models import OPEN_STATUSES, Case, CaseEvent, CaseStatus, Category, EventKind, KindStep

# The billing system's account numbers (as the account import checks them): ASCII digits only.
_ACCOUNT_NUMBER_RE = re.compile(r"^[0-9]{6,20}$")
# The kinds whose last steps end with an account of their own.
NEW_ACCOUNT_CATEGORIES = (Category.NEW_CONNECTION,)


def billing_payload(case: Case, *, step: str) -> dict:
    """The message's data: enough for the billing system to find or create the account."""
    return {
        "application": case.reference,
        "kind": case.category,
        "step": step,
        "customer_class": case.customer_class,
        "account_number": case.account.number if case.account_id else "",
        "contact_name": case.contact_name,
        "contact_phone": case.contact_phone,
        "address": case.address,
        "district": case.district,
        "capacity_kva": str(case.capacity_kva) if case.capacity_kva is not None else "",
        "done_on": clock.today().isoformat(),
    }


def step_done_message(case: Case, *, step: str, actor: User | None) -> None:
    """Tell the billing system what ``step``, just done, says it must hear (if anything). Called
    in the transaction that moves the case on."""
    message = (
        KindStep.objects.filter(version=case.kind_version_id, step=step)
        .values_list("billing_message", flat=True)
        .first()
    )
    if message:
        billing_message_send(
            kind=message, payload=billing_payload(case, step=step), actor=actor, obj=case
        )


def _bind_new_account(case: Case, account: ServiceAccount, *, staff: User | None) -> None:
    """Bind ``account`` to whoever applied, and say so on the case (the customer reads it)."""
    case.account = account
    case.save(update_fields=["account", "updated_at"])
    if case.applicant_id:
        account_bind_assigned(
            account=account,
            user=case.applicant,
            organisation=case.organisation,
            staff=staff,
        )
    CaseEvent.objects.create(
        case=case,
        kind=EventKind.ACCOUNT,
        at=clock.now(),
        actor=staff,
        to_value=account.number,
    )


def _number_taken(number: str, case: Case) -> InvalidInput:
    return InvalidInput(
        _("Account number %(number)s is recorded on application %(reference)s.")
        % {"number": number, "reference": case.reference}
    )


def case_account_number_record(*, case: Case, number: str, actor: User) -> Case:
    """Staff record the account number the billing system gave a new connection. If the account
    is there already it is bound to the applicant now; otherwise the account import binds it when
    it brings it. A number recorded once is not changed (the binding may exist)."""
    number = (number or "").strip()
    if not _ACCOUNT_NUMBER_RE.match(number):
        raise InvalidInput(_("An account number is 6 to 20 digits."))
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        if case.category not in NEW_ACCOUNT_CATEGORIES:
            raise NotAllowed(_("Only a new connection is given a new account number."))
        if case.accepted_at is None or case.status not in (*OPEN_STATUSES, CaseStatus.COMPLETED):
            raise NotAllowed(_("The account number is recorded on an accepted application."))
        if case.assigned_account_number == number:
            return case
        if case.assigned_account_number:
            raise NotAllowed(
                _("This application's account number is %(number)s already.")
                % {"number": case.assigned_account_number}
            )
        taken = Case.objects.filter(assigned_account_number=number).exclude(pk=case.pk).first()
        if taken:
            raise _number_taken(number, taken)
        case.assigned_account_number = number
        try:
            with transaction.atomic():
                case.save(update_fields=["assigned_account_number", "updated_at"])
        except IntegrityError:  # case_account_number_once: another case was quicker
            raise _number_taken(number, Case.objects.get(assigned_account_number=number)) from None
        audit_record(
            action="application.account_number",
            actor=actor,
            obj=case,
            data={"account_number": number},
        )
        account = ServiceAccount.objects.filter(number=number).first()
        if account is not None:
            _bind_new_account(case, account, staff=actor)
    return case


def accounts_arrived(*, accounts: list[ServiceAccount]) -> None:
    """The account import's new accounts: bind each one a case was waiting for (in the import's
    transaction; one query when none was awaited)."""
    by_number = {account.number: account for account in accounts}
    waiting = (
        Case.objects.select_for_update(of=("self",))
        .filter(assigned_account_number__in=list(by_number), account__isnull=True)
        .select_related("applicant", "organisation")
    )
    for case in waiting:
        _bind_new_account(case, by_number[case.assigned_account_number], staff=None)
