"""Sending a recorded notification (portal/notifications.py records them), by e-mail or SMS.

Sending (``notification_send``) is at most once. A try first *claims* the row: a conditional
UPDATE moves ``attempts`` from n-1 to n while the row is still queued, committed before the
provider is called (no transaction or lock is held across the network). Two tasks for the same
row (a duplicate enqueue, a requeue racing a retry) cannot both claim the same try, so they
cannot both send. Success marks the row sent; a failure the provider reports records the error
and the task retries later with the delays of portal/tasks.py, then marks the row failed.

The one window left: the process dies after the provider accepted the message and before the
row is marked sent. The row then stays *queued* with ``attempts`` > 0 and no error, and nothing
sends it again automatically (the message was probably delivered; a duplicate is worse than a
question). ``notifications_requeue`` (run daily by ``send_bill_reminders``) re-queues only rows
that were never claimed, or whose last try failed with a recorded error: both safe to send.

Attachments are named in a notification's context and made when it is sent, by the app that
knows them (``attachment_makers``; the payments app makes receipts).
"""

import logging
import re

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from .core import clock
from .core.registry import KeyedRegistry
from .models import Channel, Notification, NotificationStatus
from .sms import sms_send

logger = logging.getLogger("powerhall.notifications")

# What an attachment named in a notification's context (``{"type": "receipt", ...}``) is made
# by, when the message is sent: ``maker(**the reference's other keys) -> (filename, bytes,
# mimetype) | None`` (None: nothing to attach).
attachment_makers = KeyedRegistry("notification attachments")
_ERROR_MAX = Notification._meta.get_field("error").max_length


def one_line(text: str) -> str:
    return " ".join(text.split())


# --- Sending -------------------------------------------------------------------------------------
def _tidy(text: str) -> str:
    """Template output as a plain-text message: no trailing spaces, at most one blank line."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _render_context(notification: Notification) -> dict:
    site = settings.SITE_URL.rstrip("/")
    return {
        **notification.context,
        "subject": notification.subject,
        "company": settings.COMPANY_NAME,  # lazy: rendered in the notification's language
        "hotline": settings.SERVICE_HOTLINE,
        "site_url": site,
        "preferences_url": site + reverse("me:notifications"),
    }


def _attachments(notification: Notification) -> list[tuple[str, bytes, str]]:
    files = []
    for reference in notification.context.get("attachments", []):
        reference = dict(reference)
        make = attachment_makers.get(reference.pop("type"))
        if make is not None and (file := make(**reference)):
            files.append(file)
    return files


def notification_message(notification: Notification):
    """What ``notification`` sends: an ``EmailMultiAlternatives`` (text, HTML and attachments)
    for e-mail, the text for SMS. Rendered in the notification's language from its context."""
    context = _render_context(notification)
    kind = notification.kind
    if notification.channel == Channel.SMS:
        with translation.override(notification.language):
            return one_line(render_to_string(f"notifications/sms/{kind}.txt", context))
    files = _attachments(notification)
    context["attached"] = bool(files)
    with translation.override(notification.language):
        text = _tidy(render_to_string(f"notifications/{kind}.txt", context))
        html = render_to_string(f"notifications/{kind}.html", context)
    message = EmailMultiAlternatives(
        subject=notification.subject,
        body=text,
        to=[notification.recipient],
        # RFC 3834: a machine wrote this; auto-responders should not answer it.
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    for filename, content, mimetype in files:
        message.attach(filename, content, mimetype)
    return message


def notification_send(*, pk: int, attempt: int = 1) -> str:
    """Make try number ``attempt`` at sending notification ``pk``. Returns "" when it was sent
    or there is nothing to do (sent already, given up, or this try claimed by another task), and
    the error when the provider failed (recorded on the row; the caller retries or gives up).

    Claim, send, mark: see the module's docstring for why the claim commits before the send."""
    claimed = Notification.objects.filter(
        pk=pk, status=NotificationStatus.QUEUED, attempts=attempt - 1
    ).update(attempts=attempt)
    if not claimed:
        return ""
    notification = Notification.objects.select_related("user").get(pk=pk)
    if not notification.user.is_active or notification.user.closed_at is not None:
        # Closed (or deactivated) since: their old address is not theirs to be written to.
        Notification.objects.filter(pk=pk, attempts=attempt).update(
            status=NotificationStatus.FAILED, error="the person's account is closed or inactive"
        )
        return ""
    try:
        message = notification_message(notification)
        if notification.channel == Channel.SMS:
            sms_send(phone=notification.recipient, body=message, purpose="notification")
        else:
            message.send()
    except Exception as error:
        # Whatever failed (the mail server, the SMS provider, rendering the receipt), the
        # notice must not be lost: the error is kept and the task tries again later.
        logger.warning("notification %s: try %s failed", notification.uuid, attempt, exc_info=True)
        text = (f"{type(error).__name__}: {error}")[:_ERROR_MAX]
        Notification.objects.filter(pk=pk, attempts=attempt).update(error=text)
        return text
    Notification.objects.filter(pk=pk, attempts=attempt).update(
        status=NotificationStatus.SENT, sent_at=clock.now(), error=""
    )
    return ""


def notification_give_up(*, pk: int, attempt: int) -> None:
    """After the last try failed: the row says failed, with the last error."""
    Notification.objects.filter(pk=pk, status=NotificationStatus.QUEUED, attempts=attempt).update(
        status=NotificationStatus.FAILED
    )
