"""Organisations (business customers): creating one, inviting people, roles and scopes, removal.

Every service here runs in one transaction and locks what it changes. Lock order, the same in
every service so two of them never wait on each other: the Organisation row first, then
Membership rows, then Invitation rows, then MemberScope rows. Locking the organisation row
serialises every change to one organisation's people, which is what makes the "at least one
administrator" guard safe: two administrators demoting each other at the same moment are handled
one after the other, and the second is refused.

Services take the acting person's Membership (``by``) and check again, under the lock, that it
still exists and still allows the change: the page the person clicked on may be minutes old.
"""

import hashlib
import secrets
import unicodedata
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from stdnum.cn import uscc as uscc_checker
from stdnum.exceptions import ValidationError as StdnumValidationError

from .core import clock, ratelimit
from .core.audit import audit_record
from .core.errors import InvalidInput, NotAllowed, PowerhallError, RateLimited
from .core.request_context import current as current_request
from .models import (
    Binding,
    Invitation,
    MemberRole,
    MemberScope,
    Membership,
    Organisation,
    Scope,
    User,
)
from .tasks import email_enqueue

INVITATION_TTL = timedelta(days=7)

# Attempts per hour. Overridable in settings; the defaults fit an organisation inviting its staff
# in one sitting, and nobody accepts more than a handful of invitations.
_HOUR = 3600
_DAY = 86400


def _limit(name: str, default: int) -> int:
    return getattr(settings, name, default)


# --- Errors -------------------------------------------------------------------------------------
class UsccInvalid(InvalidInput):
    default_message = gettext_lazy(
        "This is not a valid unified social credit code. It has 18 digits and capital letters; "
        "check the last character against the business licence."
    )


class UsccTaken(InvalidInput):
    """Says nothing about who registered it: the code of a company is public, its portal
    administrators are not."""

    default_message = gettext_lazy(
        "An organisation with this unified social credit code is already registered. Ask its "
        "administrator to invite you."
    )


class InvitationRefused(PowerhallError):
    """Deliberately one message for every reason (unknown, expired, withdrawn, used, or for
    another address), so that a link reveals nothing about why it does not work."""

    default_message = gettext_lazy(
        "This invitation cannot be accepted. It may have expired, been withdrawn or already been "
        "used, or it was sent to an e-mail address that is not a verified address of the account "
        "you are signed in with. Ask the organisation's administrator for a new invitation."
    )


class LastAdministrator(NotAllowed):
    default_message = gettext_lazy(
        "An organisation must always have at least one administrator. Make someone else an "
        "administrator first."
    )


class NotAMember(NotAllowed):
    default_message = gettext_lazy("This person is no longer a member of the organisation.")


# --- Helpers ------------------------------------------------------------------------------------
def uscc_normalise(value: str) -> str:
    """Full-width characters (common when typed with a Chinese input method), spaces and hyphens
    removed, letters upper case."""
    text = unicodedata.normalize("NFKC", value or "")
    return "".join(text.split()).replace("-", "").upper()


def _token_hash(token: str) -> str:
    # The token carries 256 random bits, so a plain digest cannot be reversed or guessed.
    return hashlib.sha256(token.encode()).hexdigest()


def _lock_organisation(organisation_id: int) -> Organisation:
    return Organisation.objects.select_for_update().get(pk=organisation_id)


def _lock_admin(by: Membership, organisation: Organisation) -> Membership:
    """The acting person's membership, locked, if they are still an administrator."""
    current = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(pk=by.pk, organisation=organisation, role=MemberRole.ADMIN)
        .first()
    )
    if current is None:
        raise NotAllowed(_("Only an administrator of the organisation can do that."))
    return current


def _lock_member(member: Membership, organisation: Organisation) -> Membership:
    current = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(pk=member.pk, organisation=organisation)
        .first()
    )
    if current is None:
        raise NotAMember
    return current


def _admin_count(organisation: Organisation) -> int:
    return Membership.objects.filter(organisation=organisation, role=MemberRole.ADMIN).count()


def _ip() -> str:
    context = current_request()
    return context.ip if context else ""


# --- Organisations ------------------------------------------------------------------------------
def organisation_create(*, user: User, name: str, uscc: str) -> Organisation:
    """Register a business customer; ``user`` becomes its first administrator."""
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput(_("Enter the organisation's name as on its business licence."))
    if len(name) > Organisation._meta.get_field("name").max_length:
        raise InvalidInput(_("The name is too long."))
    try:
        code = uscc_checker.validate(uscc_normalise(uscc))
    except StdnumValidationError:
        raise UsccInvalid from None
    limit = ratelimit.Limit(
        "org:create:user", str(user.pk), _limit("ORGANISATION_CREATE_LIMIT_PER_DAY", 5), _DAY
    )
    if not ratelimit.hit(limit):
        raise RateLimited
    if Organisation.objects.filter(uscc=code).exists():
        raise UsccTaken
    try:
        with transaction.atomic():
            organisation = Organisation.objects.create(name=name, uscc=code, created_by=user)
            Membership.objects.create(organisation=organisation, user=user, role=MemberRole.ADMIN)
            audit_record(
                action="organisation.created",
                actor=user,
                obj=organisation,
                data={"name": name, "uscc": code},
            )
    except IntegrityError:
        # Someone registered the same code between our check and our insert.
        raise UsccTaken from None
    return organisation


# --- Invitations --------------------------------------------------------------------------------
def _invitation_send(*, invitation: Invitation, token: str, inviter: User) -> None:
    """Compose the e-mail now (in the inviter's language) and hand it over after commit, so a
    rolled-back invitation sends nothing."""
    organisation = invitation.organisation
    link = settings.SITE_URL.rstrip("/") + reverse("org:invitation_accept", args=[token])
    body = _(
        "%(inviter)s invites you to join %(organisation)s (unified social credit code "
        "%(uscc)s) on the online business hall, as %(role)s.\n\n"
        "To accept, sign in (or sign up) with this e-mail address, %(email)s, verify it, and "
        "open this link:\n\n%(link)s\n\n"
        "The link works once and expires on %(expires)s. If you did not expect this "
        "invitation, ignore this message."
    ) % {
        "inviter": inviter.get_full_name(),
        "organisation": organisation.name,
        "uscc": organisation.uscc,
        "role": MemberRole(invitation.role).label,
        "email": invitation.email,
        "link": link,
        "expires": date_format(clock.localtime(invitation.expires_at), "DATETIME_FORMAT"),
    }
    message = EmailMessage(
        subject=_("Invitation to join %(organisation)s") % {"organisation": organisation.name},
        body=body,
        to=[invitation.email],
    )
    transaction.on_commit(lambda: email_enqueue(message))


def _invitation_limit(organisation: Organisation) -> None:
    limit = ratelimit.Limit(
        "org:invite",
        str(organisation.uuid),
        _limit("ORGANISATION_INVITATION_LIMIT_PER_HOUR", 30),
        _HOUR,
    )
    if not ratelimit.hit(limit):
        raise RateLimited


def invitation_create(*, by: Membership, email: str, role: str) -> Invitation:
    """Invite ``email`` to the organisation with ``role``; an administrator only.

    Inviting an address that already has an open invitation sends that invitation again, with a
    new link (the old one stops working) and a new expiry.
    """
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput(_("Enter a valid e-mail address.")) from None
    if role not in MemberRole.values:
        raise InvalidInput
    with transaction.atomic():
        organisation = _lock_organisation(by.organisation_id)
        admin = _lock_admin(by, organisation)
        _invitation_limit(organisation)
        if Membership.objects.filter(organisation=organisation, user__email__iexact=email).exists():
            raise InvalidInput(
                _("%(email)s is already a member of the organisation.") % {"email": email}
            )
        token = secrets.token_urlsafe(32)
        expires_at = clock.now() + INVITATION_TTL
        invitation = (
            Invitation.objects.select_for_update()
            .filter(
                organisation=organisation,
                email=email,
                accepted_at__isnull=True,
                revoked_at__isnull=True,
                expires_at__gt=clock.now(),
            )
            .first()
        )
        resent = invitation is not None
        if resent:
            invitation.role = role
            invitation.token_hash = _token_hash(token)
            invitation.expires_at = expires_at
            invitation.invited_by = admin.user
            invitation.save(update_fields=["role", "token_hash", "expires_at", "invited_by"])
        else:
            invitation = Invitation.objects.create(
                organisation=organisation,
                email=email,
                role=role,
                token_hash=_token_hash(token),
                invited_by=admin.user,
                expires_at=expires_at,
            )
        _invitation_send(invitation=invitation, token=token, inviter=admin.user)
        audit_record(
            action="invitation.resent" if resent else "invitation.created",
            actor=admin.user,
            obj=invitation,
            data={"organisation": str(organisation.uuid), "email": email, "role": role},
        )
    return invitation


def invitation_resend(*, by: Membership, invitation: Invitation) -> Invitation:
    """Send an open invitation again, with a new link and a new expiry."""
    if invitation.organisation_id != by.organisation_id or not invitation.is_open:
        raise InvalidInput(_("This invitation is no longer open. Invite the person again."))
    return invitation_create(by=by, email=invitation.email, role=invitation.role)


def invitation_revoke(*, by: Membership, invitation: Invitation) -> Invitation:
    """Withdraw an open invitation: its link stops working at once."""
    with transaction.atomic():
        organisation = _lock_organisation(by.organisation_id)
        admin = _lock_admin(by, organisation)
        invitation = (
            Invitation.objects.select_for_update()
            .filter(pk=invitation.pk, organisation=organisation)
            .first()
        )
        if invitation is None or not invitation.is_open:
            raise InvalidInput(_("This invitation is no longer open."))
        invitation.revoked_at = clock.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(
            action="invitation.revoked",
            actor=admin.user,
            obj=invitation,
            data={"organisation": str(organisation.uuid), "email": invitation.email},
        )
    return invitation


def _accept_limit(user: User) -> None:
    if not ratelimit.hit(
        ratelimit.Limit(
            "org:accept:user",
            str(user.pk),
            _limit("INVITATION_ACCEPT_LIMIT_PER_USER", 10),
            _HOUR,
        ),
        ratelimit.Limit(
            "org:accept:ip", _ip(), _limit("INVITATION_ACCEPT_LIMIT_PER_IP", 30), _HOUR
        ),
    ):
        raise RateLimited


def _acceptable(invitation: Invitation | None, user: User) -> bool:
    return (
        invitation is not None
        and invitation.is_open
        and EmailAddress.objects.filter(
            user=user, verified=True, email__iexact=invitation.email
        ).exists()
    )


def invitation_preview(*, user: User, token: str) -> Invitation:
    """The invitation behind ``token`` if ``user`` could accept it now (for the page that asks
    "join this organisation?"); InvitationRefused otherwise. Counts as an attempt."""
    _accept_limit(user)
    invitation = (
        Invitation.objects.select_related("organisation", "invited_by")
        .filter(token_hash=_token_hash(token or ""))
        .first()
    )
    if not _acceptable(invitation, user):
        raise InvitationRefused
    return invitation


def invitation_accept(*, user: User, token: str) -> Membership:
    """Join the organisation the invitation is for, with the role it names.

    Only for a signed-in person who has verified the invited address: a forwarded link is of
    no use to anyone else. If the person is already a member, the invitation is used up and
    their role stays as it is (an administrator changes roles on the member's page).
    """
    _accept_limit(user)
    found = Invitation.objects.filter(token_hash=_token_hash(token or "")).first()
    refused = found is None
    if not refused:
        with transaction.atomic():
            # Organisation first (the lock order), then the invitation, checked again under it.
            organisation = _lock_organisation(found.organisation_id)
            invitation = Invitation.objects.select_for_update().get(pk=found.pk)
            refused = not _acceptable(invitation, user)
            if refused:
                audit_record(
                    action="invitation.refused",
                    actor=user,
                    obj=invitation,
                    data={"organisation": str(organisation.uuid)},
                )
            else:
                membership, created = Membership.objects.get_or_create(
                    organisation=organisation, user=user, defaults={"role": invitation.role}
                )
                invitation.accepted_at = clock.now()
                invitation.accepted_by = user
                invitation.save(update_fields=["accepted_at", "accepted_by"])
                audit_record(
                    action="invitation.accepted",
                    actor=user,
                    obj=invitation,
                    data={
                        "organisation": str(organisation.uuid),
                        "membership": str(membership.uuid),
                        "role": membership.role,
                        "already_member": not created,
                    },
                )
    else:
        audit_record(action="invitation.refused", actor=user, data={"reason": "unknown token"})
    if refused:
        raise InvitationRefused
    return membership


# --- Members, roles and scopes ------------------------------------------------------------------
SCOPE_FIELDS = {
    Scope.VIEW: "can_view",
    Scope.PAY: "can_pay",
    Scope.APPLY: "can_apply",
    Scope.MANAGE: "can_manage",
}


def _scopes_normalise(scopes) -> frozenset[str]:
    wanted = frozenset(scopes)
    unknown = wanted - set(Scope.values)
    if unknown:
        raise InvalidInput
    # Every other right implies seeing the account (MemberScope's check constraint).
    return wanted | {Scope.VIEW} if wanted else wanted


def _scopes_apply(
    *, member: Membership, bindings: list[Binding], wanted: dict[int, frozenset[str]]
) -> tuple[dict, dict]:
    """Make the member's scopes on ``bindings`` exactly ``wanted`` (by binding id); return the
    (before, after) of the accounts that changed, keyed by account number."""
    existing = {
        scope.binding_id: scope
        for scope in MemberScope.objects.select_for_update().filter(
            membership=member, binding__in=bindings
        )
    }
    before, after = {}, {}
    for binding in bindings:
        row = existing.get(binding.pk)
        have = frozenset(row.scopes()) if row else frozenset()
        want = wanted[binding.pk]
        if have == want:
            continue
        number = binding.account.number
        before[number], after[number] = sorted(have), sorted(want)
        if not want:
            row.delete()
            continue
        if row is None:
            row = MemberScope(membership=member, binding=binding)
        for scope, field in SCOPE_FIELDS.items():
            setattr(row, field, scope in want)
        row.save()
    return before, after


def _lock_for_scope_change(*, by: Membership, member: Membership):
    """Lock in the module's order and check, under the lock, that ``by`` is still an
    administrator and ``member`` still a member (scopes are for members only)."""
    organisation = _lock_organisation(by.organisation_id)
    admin = _lock_admin(by, organisation)
    member = _lock_member(member, organisation)
    if member.is_admin:
        raise NotAllowed(_("Administrators may do everything; scopes are for members."))
    return organisation, admin, member


def _scopes_audit(*, admin: Membership, member: Membership, before: dict, after: dict) -> None:
    audit_record(
        action="member.scopes_changed",
        actor=admin.user,
        obj=member,
        data={
            "organisation": str(member.organisation.uuid),
            "user": str(member.user.uuid),
            "before": before,
            "after": after,
        },
    )


def member_scopes_set(*, by: Membership, member: Membership, grants: dict) -> int:
    """Set what a member may do on the accounts named in ``grants``
    ({binding uuid: set of Scope values}); accounts not named keep their scopes. An empty set
    takes the account away. Returns how many accounts changed."""
    wanted_by_uuid = {str(uuid): _scopes_normalise(scopes) for uuid, scopes in grants.items()}
    with transaction.atomic():
        organisation, admin, member = _lock_for_scope_change(by=by, member=member)
        bindings = list(
            Binding.objects.active()
            .filter(organisation=organisation, uuid__in=list(wanted_by_uuid))
            .select_related("account")
            .order_by("account__number")
        )
        if len(bindings) != len(wanted_by_uuid):
            raise InvalidInput(
                _(
                    "Some of these accounts are no longer bound to the organisation. Reload the "
                    "page and try again."
                )
            )
        wanted = {binding.pk: wanted_by_uuid[str(binding.uuid)] for binding in bindings}
        before, after = _scopes_apply(member=member, bindings=bindings, wanted=wanted)
        if before or after:
            _scopes_audit(admin=admin, member=member, before=before, after=after)
    return len(after)


def member_scopes_grant_view_all(*, by: Membership, member: Membership) -> int:
    """Let a member see every account the organisation has bound (other rights unchanged).
    Returns how many accounts changed."""
    with transaction.atomic():
        organisation, admin, member = _lock_for_scope_change(by=by, member=member)
        bindings = list(
            Binding.objects.active()
            .filter(organisation=organisation)
            .select_related("account")
            .order_by("account__number")
        )
        current = {
            scope.binding_id: frozenset(scope.scopes())
            for scope in MemberScope.objects.filter(membership=member)
        }
        wanted = {b.pk: current.get(b.pk, frozenset()) | {Scope.VIEW} for b in bindings}
        before, after = _scopes_apply(member=member, bindings=bindings, wanted=wanted)
        if before or after:
            _scopes_audit(admin=admin, member=member, before=before, after=after)
    return len(after)


def member_role_set(*, by: Membership, member: Membership, role: str) -> Membership:
    """Make a member an administrator, or an administrator a member. The organisation always
    keeps at least one administrator. Scopes a member held stay stored while they are an
    administrator and apply again if they are made a member again."""
    if role not in MemberRole.values:
        raise InvalidInput
    with transaction.atomic():
        organisation = _lock_organisation(by.organisation_id)
        admin = _lock_admin(by, organisation)
        member = _lock_member(member, organisation)
        if member.role == role:
            return member
        if member.is_admin and _admin_count(organisation) <= 1:
            raise LastAdministrator
        before = member.role
        member.role = role
        member.save(update_fields=["role"])
        audit_record(
            action="member.role_changed",
            actor=admin.user,
            obj=member,
            data={
                "organisation": str(organisation.uuid),
                "user": str(member.user.uuid),
                "before": before,
                "after": role,
            },
        )
    return member


def membership_remove(*, by: Membership, member: Membership) -> None:
    """Remove a member (an administrator), or leave (``by`` is ``member``).

    Access ends at once: the membership and its scopes are deleted, and every page checks
    membership on every request. The person's other memberships and personal accounts are not
    touched; the accounts stay with the organisation.
    """
    with transaction.atomic():
        organisation = _lock_organisation(by.organisation_id)
        leaving = by.pk == member.pk
        actor = _lock_member(by, organisation) if leaving else _lock_admin(by, organisation)
        member = actor if leaving else _lock_member(member, organisation)
        if member.is_admin and _admin_count(organisation) <= 1:
            raise LastAdministrator
        scope_count = MemberScope.objects.filter(membership=member).count()
        MemberScope.objects.filter(membership=member).delete()
        member.delete()
        audit_record(
            action="member.removed",
            actor=actor.user,
            obj=member,
            data={
                "organisation": str(organisation.uuid),
                "user": str(member.user.uuid),
                "role": member.role,
                "left": leaving,
                "scopes_deleted": scope_count,
            },
        )
