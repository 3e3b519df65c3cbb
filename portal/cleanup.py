"""Removing what has expired and is of no more use: sessions, the session list's entries of
sessions that are gone, binding codes, e-mail confirmation keys (docs/operations.md, "Cleanup").

Run daily by ``manage.py cleanup_expired``, or from a scheduled task: ``expired_cleanup()`` is the
job's whole body and returns its report.

What is removed, and why only that:

- **Sessions** past their expiry date, from the session store of ``SESSION_ENGINE``. A database
  store (``db``, and ``cached_db`` in production) is cleared here in chunks, with the same filter
  as Django's ``SessionStore.clear_expired()`` (``expire_date`` in the past), so the count is
  exact; their cached copies in Redis expire by themselves at the same moment. Any other engine is
  asked to ``clear_expired()`` itself (a cache store has nothing to do). One-time codes allauth
  sends (sign-in by code, e-mail and phone verification, password reset by code) live in the
  session and go with it; password reset links are signed and keep no row.
- **The session list's entries** (allauth's ``UserSession``: the IP address and browser each
  person sees under Account → Sessions) whose session no longer exists. allauth drops them only
  when their owner opens that page; they hold personal data and are of no use to anyone. An
  entry younger than ``USER_SESSION_GRACE`` is left alone: its session may be being written.
- **Binding codes** (``BindingChallenge``) that expired more than
  ``BINDING_CHALLENGE_RETENTION_DAYS`` days ago, used or not: kept that long so staff can follow
  a customer's complaint that a code did not work (attempts, used or not). Only the code's hash is
  stored; the audit log keeps each request and refusal with the account number and channel.
- **E-mail confirmation keys** (allauth's ``EmailConfirmation``) past
  ``ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS``. The portal verifies addresses by code and with
  signed links, so normally there are none; allauth's admin action can still create them.

**Invitations are kept.** An organisation's administrators see their earlier invitations,
expired ones included, on the members page ("Earlier invitations": who was invited, when, and
that it expired), and the audit log names each invitation. An expired invitation cannot be
accepted (the link is refused like any other) and only its token's hash is stored, so keeping it
keeps no usable secret.

Safe to run twice at once and idempotent: every deletion is "rows matching the filter, a chunk at
a time", each chunk its own transaction; two runs share the rows between them (one deletes a
chunk, the other finds those rows gone and deletes nothing), so their counts add up to the rows
removed. A step that fails (the database away) is logged, kept under Job problems and counted;
the other steps still run.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import import_module

from allauth.account import app_settings as account_settings
from allauth.account.models import EmailConfirmation
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet

from .core import clock
from .core.jobs import JobRun
from .models import BindingChallenge

JOB = "cleanup_expired"
CHUNK = 1000
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
    run: JobRun = field(default_factory=lambda: JobRun(JOB))


def _delete_in_chunks(rows: QuerySet) -> int:
    """Delete ``rows`` a chunk of primary keys at a time, each chunk its own transaction (no long
    lock, flat memory), and return how many this process deleted. Another process deleting the
    same rows at once is harmless: a row it removed first is simply not counted here."""
    deleted = 0
    while True:
        chunk = list(rows.order_by("pk").values_list("pk", flat=True)[:CHUNK])
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
    return report
