"""Choosing bills to pay and freezing what they cost: the payment attempt.

A person may pay the unpaid bills of the accounts they have bound themselves, and those of an
organisation's accounts where their membership holds the pay scope (administrators: all of
them). The server computes the amount, never the browser: each bill's amount still unpaid plus
its penalty as of today (Asia/Shanghai), frozen in a ``PaymentAttempt``. The attempt is honoured
if the money arrives after midnight and expires unpaid at the end of its day.
"""

import logging
from collections.abc import Sequence
from uuid import UUID

from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from portal.core import clock, ratelimit
from portal.core.errors import InvalidInput, RateLimited
from portal.core.money import ZERO
from portal.core.transitions import transition
from portal.models import Binding, Scope, User
from portal.selectors import membership_list_for, org_bindings_for

from . import gateways
from .fulfilment import intent_apply
from .gateways.errors import GatewayError
from .models import AttemptBill, AttemptStatus, Bill, PaymentAttempt
from .selectors import UNPAID, owed_today
from .workflow import ATTEMPT

logger = logging.getLogger(__name__)

MAX_BILLS = 50
"""Bills in one payment: a large organisation pays in several."""
ATTEMPTS_PER_HOUR = 30


def payable_accounts_for(*, user: User) -> dict[int, int | None]:
    """The accounts whose bills ``user`` may pay: account id → the organisation it is paid for
    (None: the person's own binding, which wins over an organisation's)."""
    accounts = dict.fromkeys(
        Binding.objects.active().filter(user=user).values_list("account_id", flat=True)
    )
    for membership in membership_list_for(user=user):
        bindings = org_bindings_for(membership=membership, scope=Scope.PAY)
        for account_id in bindings.values_list("account_id", flat=True):
            accounts.setdefault(account_id, membership.organisation_id)
    return accounts


def payable_bills_for(*, user: User, accounts: dict | None = None) -> QuerySet[Bill]:
    """The unpaid bills ``user`` may pay, oldest due first, with their accounts loaded."""
    if accounts is None:
        accounts = payable_accounts_for(user=user)
    return (
        Bill.objects.filter(account_id__in=list(accounts), status__in=UNPAID)
        .select_related("account")
        .order_by("due_date", "account__number", "number")
    )


def attempt_create(*, user: User, bill_uuids: Sequence) -> PaymentAttempt:
    """Freeze what the chosen bills cost today in a new attempt (its gateway payment is made
    by ``attempt_begin`` when the pay page opens). Refuses, changing nothing, a bill the person
    may not pay, one with nothing left to pay, or one whose payment is already under way."""
    if not ratelimit.hit(ratelimit.Limit("pay:user", str(user.pk), ATTEMPTS_PER_HOUR, 3600)):
        raise RateLimited
    wanted = {str(value) for value in bill_uuids}
    if not wanted:
        raise InvalidInput(_("Choose at least one bill to pay."))
    if len(wanted) > MAX_BILLS:
        raise InvalidInput(
            ngettext(
                "At most %(count)d bill can be paid at once.",
                "At most %(count)d bills can be paid at once.",
                MAX_BILLS,
            )
            % {"count": MAX_BILLS}
        )
    accounts = payable_accounts_for(user=user)
    bills = list(payable_bills_for(user=user, accounts=accounts).filter(uuid__in=wanted))
    if len(bills) != len(wanted):
        raise InvalidInput(
            _("A chosen bill is already paid or cannot be paid here. Please choose again.")
        )
    in_flight = PaymentAttempt.objects.filter(
        status=AttemptStatus.PROCESSING, items__bill__in=bills
    )
    if in_flight.exists():
        raise InvalidInput(
            _("A payment of one of these bills is still being processed. Please wait for it.")
        )
    today = clock.today()
    owed = owed_today(bills=bills, as_of=today)
    if any(owed[bill.pk].total <= 0 for bill in bills):
        raise InvalidInput(_("One of the chosen bills has nothing left to pay."))
    organisations = {accounts[bill.account_id] for bill in bills}
    with transaction.atomic():
        attempt = PaymentAttempt(
            created_by=user,
            organisation_id=organisations.pop() if len(organisations) == 1 else None,
            amount=sum((owed[bill.pk].total for bill in bills), ZERO),
            business_date=today,
            expires_at=clock.day_end(today),
            gateway=gateways.gateway_name(),
        )
        attempt.idempotency_key = f"attempt-{attempt.uuid}"
        attempt.save()
        AttemptBill.objects.bulk_create(
            AttemptBill(
                attempt=attempt,
                bill=bill,
                principal=owed[bill.pk].principal,
                penalty=owed[bill.pk].penalty_due,
            )
            for bill in sorted(bills, key=lambda bill: bill.pk)
        )
    return attempt


def attempt_get_for(*, user: User, uuid: UUID | str) -> PaymentAttempt:
    """One of the person's own payment attempts, or 404."""
    try:
        return PaymentAttempt.objects.get(created_by=user, uuid=uuid)
    except (PaymentAttempt.DoesNotExist, ValueError):
        raise Http404 from None


def attempt_list_for(*, user: User) -> QuerySet[PaymentAttempt]:
    """The person's own payment attempts, newest first, each with ``bill_count``."""
    return (
        PaymentAttempt.objects.filter(created_by=user)
        .annotate(bill_count=Count("items"))
        .prefetch_related("receipts")  # the history's receipt links: one query per page
        .order_by("-created_at", "-id")
    )


def attempt_items(*, attempt: PaymentAttempt) -> list[AttemptBill]:
    return list(attempt.items.select_related("bill__account").order_by("bill__due_date", "pk"))


def attempt_stale_reason(*, attempt: PaymentAttempt) -> str:
    """Why the customer must not be charged for ``attempt`` now ("" if they may): it has
    expired, or a bill it covers was paid some other way since it was made (then it would
    collect twice). Checked before every charge we start."""
    if attempt.status == AttemptStatus.SUCCEEDED:
        return _("This payment has already been made.")
    if attempt.status in (AttemptStatus.CANCELLED, AttemptStatus.EXPIRED):
        return _("This payment was cancelled. Please choose the bills again.")
    if clock.now() >= attempt.expires_at:
        return _("This payment was priced for %(date)s and has expired. Please start again.") % {
            "date": attempt.business_date.isoformat()
        }
    items = attempt_items(attempt=attempt)
    owed = owed_today(bills=[item.bill for item in items], as_of=attempt.business_date)
    for item in items:
        now_owed = owed.get(item.bill_id)
        if now_owed is None or now_owed.total != item.total:
            return _("Bill %(number)s has been paid in the meantime. Please choose again.") % {
                "number": item.bill.number
            }
    return ""


def attempt_begin(*, attempt: PaymentAttempt) -> PaymentAttempt:
    """Make the gateway payment of ``attempt`` if it has none yet (the pay page opening).
    Safe to call twice at once: the stored idempotency key makes Stripe answer both with one
    PaymentIntent, and the local gateway keeps one per attempt."""
    if attempt.intent_id:
        return attempt
    intent_id, client_secret = gateways.intent_create(attempt)
    PaymentAttempt.objects.filter(pk=attempt.pk, intent_id__isnull=True).update(
        intent_id=intent_id, client_secret=client_secret
    )
    attempt.refresh_from_db()
    return attempt


def attempt_cancel_stale(*, attempt: PaymentAttempt) -> None:
    """Cancel an attempt that must not be charged (``attempt_stale_reason``) and its payment at
    the gateway, unless the money already came in (then fulfilment credits it)."""
    with transaction.atomic():
        locked = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
        if locked.status not in (AttemptStatus.PENDING, AttemptStatus.FAILED):
            return
    state = gateways.intent_cancel(locked)
    if state is not None and state.status != gateways.CANCELED:
        intent_apply(state=state, source="cancel")
        return
    expired = attempt.expires_at <= clock.now()
    with transaction.atomic():
        locked = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
        if locked.status not in (AttemptStatus.PENDING, AttemptStatus.FAILED):
            return  # paid or cancelled meanwhile (the webhook of the cancellation)
        transition(
            locked,
            ATTEMPT,
            to=AttemptStatus.EXPIRED if expired else AttemptStatus.CANCELLED,
            data={"intent": locked.intent_id or ""},
            locked=True,
        )


def attempt_refresh(*, attempt: PaymentAttempt) -> PaymentAttempt:
    """Bring a waiting attempt up to date (the return page): ask the gateway about its payment
    and run the same idempotent fulfilment as the webhook (whichever comes first credits it;
    the other changes nothing); cancel one that can no longer be paid (expired, or a bill paid
    meanwhile)."""
    if attempt.status in (AttemptStatus.PENDING, AttemptStatus.PROCESSING) and attempt.intent_id:
        try:
            state = gateways.intent_retrieve(attempt)
        except GatewayError:
            # The webhook or reconciliation settles it; the page says "processing" meanwhile.
            logger.exception("asking the gateway about attempt %s failed", attempt.uuid)
            state = None
        if state is not None:
            intent_apply(state=state, source="return_page")
            attempt.refresh_from_db()
    payable = attempt.status in (AttemptStatus.PENDING, AttemptStatus.FAILED)
    if payable and attempt_stale_reason(attempt=attempt):
        attempt_cancel_stale(attempt=attempt)
        attempt.refresh_from_db()
    return attempt
