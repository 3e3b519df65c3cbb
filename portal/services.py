"""Services that change people's identity records, and the daily removal of what has expired
(sessions, binding codes: ``expired_cleanup`` below). Each one writes its audit row."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import import_module

from allauth.account import app_settings as account_settings
from allauth.account.models import EmailAddress, EmailConfirmation
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet

from .core import clock
from .core.audit import audit_record
from .core.jobs import JobRun
from .models import BindingChallenge, User


def user_signup_complete(*, user: User, privacy_accepted: bool) -> None:
    """Record the privacy consent given on the sign-up form, and the sign-up itself."""
    with transaction.atomic():
        if privacy_accepted:
            user.privacy_notice_version = settings.PRIVACY_NOTICE_VERSION
            user.privacy_accepted_at = clock.now()
            user.save(update_fields=["privacy_notice_version", "privacy_accepted_at"])
        audit_record(
            action="user.signed_up",
            actor=user,
            obj=user,
            data={"privacy_notice_version": user.privacy_notice_version},
        )


def user_phone_set(*, user: User, phone: str, verified: bool) -> None:
    """Attach (or verify) a mobile number; allauth calls this through the adapter."""
    if user.phone == phone and user.phone_verified == verified:
        # allauth marks the number verified again after every sign-in by SMS code: that changes
        # nothing and is not worth an audit row (the sign-in has its own).
        return
    with transaction.atomic():
        changed = user.phone != phone
        user.phone = phone
        user.phone_verified = verified
        user.save(update_fields=["phone", "phone_verified"])
        audit_record(
            action="user.phone_changed" if changed else "user.phone_verified",
            actor=user,
            obj=user,
            data={"verified": verified},
        )


def user_sessions_ended(*, sessions: list[UserSession]) -> None:
    for session in sessions:
        audit_record(
            action="user.session_ended",
            actor=session.user,
            obj=session.user,
            data={"session": session.pk},
        )


def user_data_export(*, user: User) -> dict:
    """Everything we hold about a person, as they can download it (privacy law: access)."""
    from .core.audit import audit_events_by

    data = {
        "exported_at": clock.now().isoformat(),
        "profile": {
            "id": str(user.uuid),
            "email": user.email,
            "name": user.name,
            "phone": user.phone,
            "phone_verified": user.phone_verified,
            "language": user.language,
            "date_joined": user.date_joined.isoformat(),
            "last_login": user.last_login.isoformat() if user.last_login else None,
            "privacy_notice_version": user.privacy_notice_version,
            "privacy_accepted_at": (
                user.privacy_accepted_at.isoformat() if user.privacy_accepted_at else None
            ),
        },
        "email_addresses": [
            {"email": e.email, "verified": e.verified, "primary": e.primary}
            for e in EmailAddress.objects.filter(user=user).order_by("pk")
        ],
        "two_factor_methods": sorted(
            Authenticator.objects.filter(user=user).values_list("type", flat=True)
        ),
        "sessions": [
            {
                "ip": s.ip,
                "user_agent": s.user_agent,
                "created_at": s.created_at.isoformat(),
                "last_seen_at": s.last_seen_at.isoformat() if s.last_seen_at else None,
            }
            for s in UserSession.objects.filter(user=user).order_by("created_at")
        ],
        "activity": audit_events_by(user=user),
    }
    audit_record(action="privacy.data_exported", actor=user, obj=user)
    return data


def user_close(*, user: User) -> None:
    """Close an account at the owner's request.

    Personal data is removed or pseudonymised; the user row stays (as an anonymous shell) because
    bills, payments and the audit trail refer to it and must be kept by law.
    """
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        sessions = list(UserSession.objects.filter(user=user))
        for session in sessions:
            session.end()
        EmailAddress.objects.filter(user=user).delete()
        Authenticator.objects.filter(user=user).delete()
        user.email = f"closed-{uuid.uuid4().hex}@closed.invalid"
        user.name = ""
        user.phone = ""
        user.phone_verified = False
        user.language = ""
        user.is_active = False
        user.closed_at = clock.now()
        user.set_unusable_password()
        user.save()
        user.groups.clear()
        audit_record(action="privacy.account_closed", actor=user, obj=user)


# --- Removing expired records ---------------------------------------------------------------------
# Removing what has expired and is of no more use: sessions, the session list's entries of
# sessions that are gone, binding codes, e-mail confirmation keys (docs/operations.md, "Cleanup of
# expired records").
#
# Run daily by ``manage.py cleanup_expired``, or from a scheduled task: ``expired_cleanup()`` is
# the job's whole body and returns its report. A run that removed anything leaves one
# ``cleanup.expired_removed`` audit record with its counts.
#
# What is removed, and why only that:
#
# - **Sessions** past their expiry date, from the session store of ``SESSION_ENGINE``. A database
#   store (``db``, and ``cached_db`` in production) is cleared here in chunks, with the same filter
#   as Django's ``SessionStore.clear_expired()`` (``expire_date`` in the past), so the count is
#   exact; their cached copies in Redis expire by themselves at the same moment. Any other engine is
#   asked to ``clear_expired()`` itself (a cache store has nothing to do). One-time codes allauth
#   sends (sign-in by code, e-mail and phone verification, password reset by code) live in the
#   session and go with it; password reset links are signed and keep no row.
# - **The session list's entries** (allauth's ``UserSession``: the IP address and browser each
#   person sees under Account → Sessions) whose session no longer exists. allauth drops them only
#   when their owner opens that page; they hold personal data and are of no use to anyone. An
#   entry younger than ``USER_SESSION_GRACE`` is left alone: its session may be being written.
# - **Binding codes** (``BindingChallenge``) that expired more than
#   ``BINDING_CHALLENGE_RETENTION_DAYS`` days ago, used or not: kept that long so staff can follow
#   a customer's complaint that a code did not work (attempts, used or not). Only the code's hash is
#   stored; the audit log keeps each request and refusal with the account number and channel.
# - **E-mail confirmation keys** (allauth's ``EmailConfirmation``) past
#   ``ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS``. The portal verifies addresses by code, so
#   normally there are none; allauth's admin action can still create them.
#
# **Invitations are kept.** An organisation's administrators see their earlier invitations,
# expired ones included, on the members page ("Earlier invitations": who was invited, when, and
# that it expired), and the audit log names each invitation. An expired invitation cannot be
# accepted (the link is refused like any other) and only its token's hash is stored, so keeping it
# keeps no usable secret.
#
# Safe to run twice at once and idempotent: every deletion is "rows matching the filter, a chunk at
# a time", each chunk its own transaction; two runs share the rows between them (one deletes a
# chunk, the other finds those rows gone and deletes nothing), so their counts add up to the rows
# removed. A step that fails (the database away) is logged, kept under Job problems and counted;
# the other steps still run.

CLEANUP_JOB = "cleanup_expired"
CLEANUP_CHUNK = 1000
USER_SESSION_GRACE = timedelta(hours=1)


@dataclass
class CleanupReport:
    at: datetime
    sessions: int | None = 0
    """Expired sessions removed; None when the session store cleared them itself (not a
    database store: it does not say how many)."""
    user_sessions: int = 0
    binding_challenges: int = 0
    email_confirmations: int = 0
    run: JobRun = field(default_factory=lambda: JobRun(CLEANUP_JOB))


def _delete_in_chunks(rows: QuerySet) -> int:
    """Delete ``rows`` a chunk of primary keys at a time, each chunk its own transaction (no long
    lock, flat memory), and return how many this process deleted. Another process deleting the
    same rows at once is harmless: a row it removed first is simply not counted here."""
    deleted = 0
    while True:
        chunk = list(rows.order_by("pk").values_list("pk", flat=True)[:CLEANUP_CHUNK])
        if not chunk:
            return deleted
        count, _by_model = rows.model._default_manager.filter(pk__in=chunk).delete()
        deleted += count


def _session_store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def _session_model():
    """The session table's model if the configured store keeps sessions in the database
    (``db``, ``cached_db`` and stores built on them), else None."""
    get_model_class = getattr(_session_store(), "get_model_class", None)
    return get_model_class() if get_model_class is not None else None


def expired_cleanup(*, now: datetime | None = None) -> CleanupReport:
    """Remove expired sessions, the session list's entries of vanished sessions, binding codes
    past their retention and expired e-mail confirmation keys. Idempotent, safe to run twice at
    once; see the module's docstring for what is kept and why."""
    now = now or clock.now()
    report = CleanupReport(at=now)
    run = report.run
    session_model = _session_model()

    with run.step("sessions"), run.row("sessions", atomic=False):
        if session_model is not None:
            report.sessions = _delete_in_chunks(session_model.objects.filter(expire_date__lt=now))
        else:
            _session_store().clear_expired()
            report.sessions = None

    if session_model is not None:
        # Without a session table there is nothing to compare with; allauth still drops stale
        # entries when their owner lists their sessions.
        with run.step("user_sessions"), run.row("user_sessions", atomic=False):
            gone = ~Exists(session_model.objects.filter(session_key=OuterRef("session_key")))
            report.user_sessions = _delete_in_chunks(
                UserSession.objects.filter(gone, created_at__lt=now - USER_SESSION_GRACE)
            )

    with run.step("binding_challenges"), run.row("binding_challenges", atomic=False):
        expired_before = now - timedelta(days=settings.BINDING_CHALLENGE_RETENTION_DAYS)
        report.binding_challenges = _delete_in_chunks(
            BindingChallenge.objects.filter(expires_at__lt=expired_before)
        )

    with run.step("email_confirmations"), run.row("email_confirmations", atomic=False):
        sent_before = now - timedelta(days=account_settings.EMAIL_CONFIRMATION_EXPIRE_DAYS)
        report.email_confirmations = _delete_in_chunks(
            EmailConfirmation.objects.filter(sent__lt=sent_before)
        )

    removed = {
        "sessions": report.sessions,
        "user_sessions": report.user_sessions,
        "binding_challenges": report.binding_challenges,
        "email_confirmations": report.email_confirmations,
    }
    if any(removed.values()):
        with run.step("audit"), run.row("audit_record"):
            audit_record(action="cleanup.expired_removed", data=removed)
    return report
