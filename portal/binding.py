"""Binding electricity accounts (绑定户号): claiming an account takes proof, attempts are limited,
and every attempt is audited. Nothing here reveals whether an account number exists: every
refusal is the same BindingRefused, and a code is "sent" whether or not there was anywhere to
send it.
"""

import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from .core import clock, ratelimit
from .core.audit import audit_record
from .core.errors import BindingRefused, NotAllowed, RateLimited
from .core.registry import Registry
from .core.request_context import current as current_request
from .models import (
    Binding,
    BindingChallenge,
    Membership,
    Organisation,
    ProofMethod,
    ServiceAccount,
    User,
)
from .sms import sms_send
from .tasks import email_enqueue

# The amount of an account's latest bill, for binding with a paper bill: the bills are the
# payments app's. ``provider(*, account) -> Decimal | None``.
latest_bill_amount = Registry("latest bill amount")

CODE_TTL = timedelta(minutes=10)
CODE_MAX_ATTEMPTS = 5


def _limits(*, user: User, number: str) -> list[ratelimit.Limit]:
    """Per person, per account number (whoever tries it) and per address, across processes."""
    context = current_request()
    ip = context.ip if context else ""
    return [
        ratelimit.Limit("bind:user", str(user.pk), settings.BINDING_LIMIT_PER_USER, 3600),
        ratelimit.Limit("bind:number", number, settings.BINDING_LIMIT_PER_NUMBER, 3600),
        ratelimit.Limit("bind:ip", ip, settings.BINDING_LIMIT_PER_IP, 3600),
    ]


def _consume_attempt(*, user: User, number: str, method: str) -> None:
    if not ratelimit.hit(*_limits(user=user, number=number)):
        audit_record(
            action="binding.rate_limited",
            actor=user,
            data={"account_number": number, "method": method},
        )
        raise RateLimited


def _normalise_name(name: str) -> str:
    # Full-width letters and stray spaces are common when names are typed on a phone.
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _check_holder(*, organisation: Organisation | None, user: User) -> None:
    if organisation is None:
        return
    is_admin = Membership.objects.filter(
        organisation=organisation, user=user, role="admin"
    ).exists()
    if not is_admin:
        raise NotAllowed(_("Only an administrator can bind accounts for the organisation."))


_USER = object()


def _bind(
    *,
    user: User,
    organisation: Organisation | None,
    account: ServiceAccount,
    proof: str,
    label: str,
    bound_by: User | None | object = _USER,
) -> Binding:
    """Create the binding, or return the one that already exists for this holder. ``bound_by``:
    who made it when not ``user`` (staff for an application's new account; None: the system)."""
    bound_by = user if bound_by is _USER else bound_by
    holder = {"organisation": organisation} if organisation else {"user": user}
    existing = Binding.objects.active().filter(account=account, **holder).first()
    if existing:
        return existing
    try:
        with transaction.atomic():
            binding = Binding.objects.create(
                account=account, proof=proof, label=label.strip(), bound_by=bound_by, **holder
            )
            audit_record(
                action="binding.created",
                actor=bound_by,
                obj=binding,
                data={
                    "account": str(account.uuid),
                    "proof": proof,
                    "organisation": str(organisation.uuid) if organisation else None,
                },
            )
    except IntegrityError:
        # The same person bound it in another tab a moment ago (unique constraint).
        return Binding.objects.active().get(account=account, **holder)
    return binding


def _bind_with_proof(
    *,
    user: User,
    number: str,
    proof: str,
    matches: Callable[[ServiceAccount], bool],
    label: str,
    organisation: Organisation | None,
) -> Binding:
    """Bind when ``matches(account)``; otherwise the one refusal, whatever the reason (unknown
    number, wrong name, wrong digits or amount), so nothing reveals whether a number exists."""
    _check_holder(organisation=organisation, user=user)
    _consume_attempt(user=user, number=number, method=proof)
    account = ServiceAccount.objects.filter(number=number).first()
    if account is None or not matches(account):
        audit_record(
            action="binding.refused",
            actor=user,
            data={"account_number": number, "method": proof},
        )
        raise BindingRefused
    return _bind(user=user, organisation=organisation, account=account, proof=proof, label=label)


def account_bind_with_holder(
    *,
    user: User,
    number: str,
    holder_name: str,
    meter_last4: str,
    label: str = "",
    organisation: Organisation | None = None,
) -> Binding:
    """Bind by the holder's name plus the last four digits of the meter number."""

    def matches(account: ServiceAccount) -> bool:
        return (
            _same(_normalise_name(holder_name), _normalise_name(account.holder_name))
            and len(meter_last4) == 4
            and _same(meter_last4, account.meter_number[-4:])
        )

    return _bind_with_proof(
        user=user,
        number=number,
        proof=ProofMethod.HOLDER_AND_METER,
        matches=matches,
        label=label,
        organisation=organisation,
    )


def account_bind_assigned(
    *,
    account: ServiceAccount,
    user: User,
    organisation: Organisation | None,
    staff: User | None,
    label: str = "",
) -> Binding:
    """Bind the account the billing system assigned to someone's own application (a new
    connection) to them, or to their organisation: staff vouch for it, so no proof is asked.
    ``staff`` None: the account import brought the account that staff had recorded earlier."""
    return _bind(
        user=user,
        organisation=organisation,
        account=account,
        proof=ProofMethod.APPLICATION,
        label=label,
        bound_by=staff,
    )


def _latest_bill_amount(account: ServiceAccount) -> Decimal | None:
    for provider in latest_bill_amount:
        if (amount := provider(account=account)) is not None:
            return amount
    return None


def account_bind_with_bill(
    *,
    user: User,
    number: str,
    holder_name: str,
    bill_amount: Decimal,
    label: str = "",
    organisation: Organisation | None = None,
) -> Binding:
    """Bind by the holder's name plus the amount of the account's latest bill (not cancelled):
    what a customer holding a paper bill can read off it (``latest_bill_amount``)."""

    def matches(account: ServiceAccount) -> bool:
        latest = _latest_bill_amount(account)
        return (
            _same(_normalise_name(holder_name), _normalise_name(account.holder_name))
            and latest is not None
            and latest == bill_amount
        )

    return _bind_with_proof(
        user=user,
        number=number,
        proof=ProofMethod.BILL_AMOUNT,
        matches=matches,
        label=label,
        organisation=organisation,
    )


def _code_hash(challenge_uuid, code: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{challenge_uuid}:{code}".encode(), hashlib.sha256).hexdigest()


def binding_challenge_start(
    *, user: User, number: str, channel: str, organisation: Organisation | None = None
) -> BindingChallenge:
    """Send a one-time code to the phone or e-mail on file of the account, if it has one.

    The challenge exists either way and the customer is told the same thing either way.
    """
    if channel not in (ProofMethod.PHONE_CODE, ProofMethod.EMAIL_CODE):
        raise BindingRefused
    _check_holder(organisation=organisation, user=user)
    _consume_attempt(user=user, number=number, method=channel)
    account = ServiceAccount.objects.filter(number=number).first()
    destination = ""
    if account is not None:
        destination = account.phone if channel == ProofMethod.PHONE_CODE else account.email
    code = f"{secrets.randbelow(10**6):06d}"
    challenge = BindingChallenge(
        user=user,
        organisation=organisation,
        account=account if destination else None,
        account_number=number,
        channel=channel,
        expires_at=clock.now() + CODE_TTL,
    )
    challenge.code_hash = _code_hash(challenge.uuid, code) if destination else ""
    challenge.save()
    audit_record(
        action="binding.code_requested",
        actor=user,
        obj=challenge,
        data={"account_number": number, "channel": channel},
    )
    if destination:
        text = _(
            "[powerhall] Your code to bind electricity account %(number)s is %(code)s. "
            "It expires in 10 minutes. If you did not ask for it, ignore this message."
        ) % {"number": number, "code": code}
        if channel == ProofMethod.PHONE_CODE:
            transaction.on_commit(
                lambda: sms_send(phone=destination, body=text, purpose="verification_code")
            )
        else:
            message = EmailMessage(
                subject=_("Your code to bind an electricity account"),
                body=text,
                to=[destination],
            )
            transaction.on_commit(lambda: email_enqueue(message))
    return challenge


def account_bind_with_code(
    *, user: User, challenge_uuid: UUID | str, code: str, label: str = ""
) -> Binding:
    """Finish a code binding. Wrong, expired, used or unknown challenges are all refused alike."""
    with transaction.atomic():
        challenge = (
            BindingChallenge.objects.select_for_update(of=("self",))
            .filter(uuid=challenge_uuid, user=user)
            .select_related("account", "organisation")
            .first()
        )
        if challenge is None:
            raise BindingRefused
        usable = (
            challenge.used_at is None
            and challenge.expires_at > clock.now()
            and challenge.attempts < CODE_MAX_ATTEMPTS
        )
        challenge.attempts += 1
        correct = (
            usable
            and challenge.account is not None
            and _same(challenge.code_hash, _code_hash(challenge.uuid, code.strip()))
        )
        if correct:
            challenge.used_at = clock.now()
        challenge.save(update_fields=["attempts", "used_at"])
        if not correct:
            audit_record(
                action="binding.refused",
                actor=user,
                obj=challenge,
                data={"account_number": challenge.account_number, "method": challenge.channel},
            )
    if not correct:
        raise BindingRefused
    _check_holder(organisation=challenge.organisation, user=user)
    return _bind(
        user=user,
        organisation=challenge.organisation,
        account=challenge.account,
        proof=challenge.channel,
        label=label,
    )


def binding_relabel(*, user: User, binding: Binding, label: str) -> Binding:
    with transaction.atomic():
        binding.label = label.strip()
        binding.save(update_fields=["label"])
        audit_record(action="binding.relabelled", actor=user, obj=binding)
    return binding


def binding_end(*, user: User, binding: Binding) -> Binding:
    """Unbind: the row stays, as history; access ends at once."""
    with transaction.atomic():
        binding = Binding.objects.select_for_update().get(pk=binding.pk)
        if binding.ended_at is None:
            binding.ended_at = clock.now()
            binding.ended_by = user
            binding.save(update_fields=["ended_at", "ended_by"])
            audit_record(action="binding.ended", actor=user, obj=binding)
    return binding
