"""Telling people things: one service for every notice the portal sends, by e-mail and SMS.

``notify`` (one person) and ``notify_many`` (a batch: a bill import, a reminder run) record one
``Notification`` per channel the person wants and can receive, then hand them to a background
task after commit (``portal.tasks.notification_deliver`` / ``notifications_deliver``):

- **Preferences.** A person chooses per kind and channel on /me/notifications/; without a
  choice, ``DEFAULTS`` apply: e-mail for every kind, text messages only for what is urgent or
  money (a bill overdue, a payment received, a planned outage). E-mail goes to the account's
  e-mail address, SMS to the mobile number only once it is verified; a person without one
  simply gets nothing on that channel.
- **Language.** The person's ``language`` (chosen on the same page), else ``LANGUAGE_CODE``
  (zh-hans). The subject is rendered when the notice is recorded, the bodies when it is sent,
  both in that language, from ``templates/notifications/<kind>.subject.txt``, ``<kind>.txt``,
  ``<kind>.html`` and ``sms/<kind>.txt``.
- **Idempotency.** ``idempotency_key`` is ``<kind>:<key>:<user id>:<channel>``, ``key`` naming
  the event (the payment's UUID, the bill's UUID and week …). The same event raised again finds
  its row and sends nothing more.
- **The context** is stored as JSON (amounts as strings, dates ISO), and a retry renders the
  same message from it. Attachments are named in it (``attachments``) and produced when the
  message is sent (``notification_delivery.attachment_makers``), so the row holds no file.

Sending is portal/notification_delivery.py's.
"""

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.db.models.constants import OnConflict
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from .core import clock
from .core.audit import audit_record
from .core.background import enqueue_after_commit
from .core.errors import InvalidInput
from .models import (
    Channel,
    Notification,
    NotificationKind,
    NotificationPreference,
    NotificationStatus,
    User,
)
from .notification_delivery import one_line
from .tasks import notification_deliver, notifications_deliver

logger = logging.getLogger("powerhall.notifications")

# Text messages cost money and interrupt: on by default only where a person should hear at once.
SMS_BY_DEFAULT = frozenset(
    {NotificationKind.BILL_OVERDUE, NotificationKind.PAYMENT_RECEIVED, NotificationKind.OUTAGE}
)
DEFAULTS: dict[tuple[str, str], bool] = {
    (kind, channel): channel == Channel.EMAIL or kind in SMS_BY_DEFAULT
    for kind in NotificationKind.values
    for channel in Channel.values
}
RECENT_LIMIT = 20
_ERROR_MAX = Notification._meta.get_field("error").max_length
_SUBJECT_MAX = Notification._meta.get_field("subject").max_length


# --- Preferences ---------------------------------------------------------------------------------
def preference_pairs() -> list[tuple[str, str]]:
    """Every (kind, channel) a person can choose, in the order the page shows them."""
    return [(kind, channel) for kind in NotificationKind.values for channel in Channel.values]


def preferences_for(*, user_ids: Iterable[int], kinds: Iterable[str] | None = None) -> dict:
    """(user id, kind, channel) → enabled, for every pair of these people (and kinds): their
    choice where they made one, the default otherwise. One query."""
    user_ids = set(user_ids)
    kinds = list(kinds) if kinds is not None else NotificationKind.values
    chosen = NotificationPreference.objects.filter(user_id__in=user_ids, kind__in=kinds)
    choices = {
        (user_id, kind, channel): enabled
        for user_id, kind, channel, enabled in chosen.values_list(
            "user_id", "kind", "channel", "enabled"
        )
    }
    return {
        (user_id, kind, channel): choices.get((user_id, kind, channel), DEFAULTS[(kind, channel)])
        for user_id in user_ids
        for kind in kinds
        for channel in Channel.values
    }


def language_for(*, user: User) -> str:
    """The language a person's messages are written in."""
    languages = {code for code, _name in settings.LANGUAGES}
    return user.language if user.language in languages else settings.LANGUAGE_CODE


def notification_preferences_set(*, user: User, enabled: Iterable[str], language: str) -> dict:
    """Store a person's choices: ``enabled`` holds "<kind>:<channel>" for each pair they want,
    every other pair is off; ``language`` is a code of ``LANGUAGES``. Returns what changed
    ({"<kind>:<channel>": bool, "language": code}); a change is audited."""
    languages = {code for code, _name in settings.LANGUAGES}
    if language not in languages:
        raise InvalidInput(_("Choose one of the languages offered."))
    enabled = set(enabled)
    wanted = {
        (kind, channel): f"{kind}:{channel}" in enabled for kind, channel in preference_pairs()
    }
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        current = preferences_for(user_ids=[user.pk])
        changes: dict = {
            f"{kind}:{channel}": value
            for (kind, channel), value in wanted.items()
            if current[(user.pk, kind, channel)] != value
        }
        # Someone who never chose follows LANGUAGE_CODE; saving the page unchanged keeps it so.
        language_changed = language != language_for(user=user)
        if not changes and not language_changed:
            return {}
        # Every pair is stored, defaults included: what the person saw and saved stays their
        # choice if a default changes later.
        NotificationPreference.objects.bulk_create(
            [
                NotificationPreference(user=user, kind=kind, channel=channel, enabled=value)
                for (kind, channel), value in wanted.items()
            ],
            update_conflicts=True,
            unique_fields=["user", "kind", "channel"],
            update_fields=["enabled"],
        )
        if language_changed:
            user.language = language
            user.save(update_fields=["language"])
            changes["language"] = language
        audit_record(action="notifications.preferences_changed", actor=user, obj=user, data=changes)
    return changes


# --- Recording notices ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Notice:
    """One event to tell one person about."""

    user: User
    key: str
    """Names the event (with the kind, the person and the channel: the idempotency key)."""
    context: dict = field(default_factory=dict)


def _recipient(user: User, channel: str) -> str:
    """Where ``channel`` reaches the person, or "" (then nothing is sent on it)."""
    if not user.is_active or user.closed_at is not None:
        return ""
    if channel == Channel.EMAIL:
        return user.email
    return user.phone if user.phone and user.phone_verified else ""


def _json_safe(context: dict) -> dict:
    """The context as it will be stored: Decimals become exact strings, dates ISO text."""
    return json.loads(json.dumps(context, cls=DjangoJSONEncoder))


def idempotency_key(*, kind: str, key: str, user_id: int, channel: str) -> str:
    return f"{kind}:{key}:{user_id}:{channel}"


def notify_many(*, kind: str, notices: Iterable[Notice]) -> list[int]:
    """Record ``notices`` of ``kind`` on every channel each person wants and can receive, and
    send them after commit with one task. Returns the ids of the notifications recorded now (a
    notice whose key was recorded before is left alone). A handful of queries whatever the
    number of notices: the preferences, for a batch the keys already recorded, the inserts.

    In the caller's transaction, if there is one (a payment records its "payment received"
    notice with the money): the rows and the task that sends them are written in it
    (``enqueue_after_commit``), so nothing is sent before it commits, and nothing at all if it
    rolls back."""
    notices = list(notices)
    if not notices:
        return []
    preferences = preferences_for(user_ids={n.user.pk for n in notices}, kinds=[kind])
    wanted: dict[str, tuple[Notice, str, str]] = {}
    for notice in notices:
        for channel in Channel.values:
            recipient = _recipient(notice.user, channel)
            if recipient and preferences[(notice.user.pk, kind, channel)]:
                key = idempotency_key(
                    kind=kind, key=notice.key, user_id=notice.user.pk, channel=channel
                )
                wanted[key] = (notice, channel, recipient)
    if not wanted:
        return []
    # A batch (a reminder run, most of whose notices were recorded on an earlier day) skips
    # the keys recorded before without rendering them; one notice leaves that to the insert.
    seen = set()
    if len(notices) > 1:
        seen = set(
            Notification.objects.filter(idempotency_key__in=list(wanted)).values_list(
                "idempotency_key", flat=True
            )
        )
    by_language = defaultdict(list)
    for key, (notice, channel, recipient) in wanted.items():
        if key not in seen:
            by_language[language_for(user=notice.user)].append((key, notice, channel, recipient))
    rows, rendered = [], {}
    for language, items in by_language.items():
        with translation.override(language):
            for key, notice, channel, recipient in items:
                # One context and subject per notice, shared by its channels.
                if id(notice) not in rendered:
                    context = _json_safe(notice.context)
                    subject = render_to_string(f"notifications/{kind}.subject.txt", context)
                    rendered[id(notice)] = context, one_line(subject)[:_SUBJECT_MAX]
                context, subject = rendered[id(notice)]
                rows.append(
                    Notification(
                        user=notice.user,
                        kind=kind,
                        channel=channel,
                        idempotency_key=key,
                        recipient=recipient,
                        subject=subject,
                        language=language,
                        context=context,
                    )
                )
    if not rows:
        return []
    with transaction.atomic(savepoint=False):
        ids = sorted(_insert_new(rows))
        # Sent after commit; with the database queue the task's row is written in this
        # transaction. robust: the caller's change stands if a queue elsewhere is unreachable;
        # the rows stay queued and ``notifications_requeue`` sends them later.
        if len(ids) == 1:
            enqueue_after_commit(notification_deliver, notification=ids[0])
        elif ids:
            enqueue_after_commit(notifications_deliver, notifications=ids)
    return ids


def _insert_new(rows: list[Notification], *, batch_size: int = 500) -> list[int]:
    """Insert ``rows``, skipping those whose idempotency key is recorded already (by an earlier
    run, or a concurrent one since we looked: whichever inserted a row sends it), and return
    the ids of the rows inserted now. ``INSERT … ON CONFLICT DO NOTHING RETURNING id``, one a
    batch (PostgreSQL, and SQLite from 3.35)."""
    meta = Notification._meta
    fields = [field for field in meta.local_concrete_fields if not field.primary_key]
    ids = []
    for start in range(0, len(rows), batch_size):
        # QuerySet._insert is what bulk_create uses; bulk_create(ignore_conflicts=True) does
        # not say which rows went in (payments/webhooks.py stores events the same way).
        inserted = Notification.objects._insert(
            rows[start : start + batch_size],
            fields=fields,
            returning_fields=[meta.pk],
            on_conflict=OnConflict.IGNORE,
        )
        ids.extend(pk for (pk,) in inserted)
    return ids


def notify(
    *,
    user: User,
    kind: str,
    key: str,
    context: dict,
    attachments: Sequence[dict] = (),
) -> list[Notification]:
    """Tell ``user`` about one event (``kind``, named by ``key``) on each channel they want.
    ``attachments``: references such as ``{"type": "receipt", "payment": "<uuid>"}`` (see
    ``notification_delivery.attachment_makers``), attached to the e-mail when it is sent.
    Returns the notifications recorded now: none when this event was notified before."""
    if attachments:
        context = {**context, "attachments": list(attachments)}
    ids = notify_many(kind=kind, notices=[Notice(user=user, key=key, context=context)])
    return list(Notification.objects.filter(pk__in=ids).order_by("pk")) if ids else []


def notifications_requeue(*, older_than: timedelta = timedelta(minutes=30)) -> int:
    """Queue again the notifications whose task was lost (a worker stopped, a process died
    between commit and enqueue): still queued after ``older_than`` and either never claimed or
    last failed with a recorded error. A row claimed without an outcome is left alone (see the
    module's docstring). Returns how many were queued."""
    stale = Notification.objects.filter(
        Q(attempts=0) | ~Q(error=""),
        status=NotificationStatus.QUEUED,
        created_at__lt=clock.now() - older_than,
    ).values_list("pk", "attempts")
    count = 0
    for pk, attempts in stale.iterator():
        # A retry already scheduled for the same try loses the claim and does nothing.
        notification_deliver.enqueue(notification=pk, attempt=attempts + 1)
        count += 1
    return count


# --- Reading -------------------------------------------------------------------------------------
def notifications_recent_for(*, user: User, limit: int = RECENT_LIMIT) -> list[Notification]:
    """The latest notifications to the person, newest first."""
    return list(
        Notification.objects.filter(user=user)
        .only("uuid", "kind", "channel", "subject", "recipient", "status", "created_at", "sent_at")
        .order_by("-created_at", "-id")[:limit]
    )
