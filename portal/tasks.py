"""Background work of the portal app. Tasks call services; they hold no business logic.

Neither django.tasks nor the database worker retries a failed task, so delivery retries are
written here: a failed attempt re-enqueues itself with a growing delay, up to MAX_ATTEMPTS.
"""

import logging
import smtplib
from datetime import timedelta

from crontask import cron
from django.core.mail import EmailMessage
from django.tasks import default_task_backend, task
from django_tasks_db.backend import DatabaseBackend

from .core import clock
from .core.jobs import JobRun
from .core.schedule import command_run_scheduled
from .email import email_from_payload, email_to_payload
from .notification_delivery import notification_give_up, notification_send

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
RETRY_DELAYS = [
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=2),
]


def _retry_later(task_func, attempt: int, **kwargs) -> bool:
    """Schedule another attempt if the backend can defer and attempts remain."""
    if attempt >= MAX_ATTEMPTS or not default_task_backend.supports_defer:
        return False
    delay = RETRY_DELAYS[min(attempt - 1, len(RETRY_DELAYS) - 1)]
    task_func.using(run_after=clock.now() + delay).enqueue(attempt=attempt + 1, **kwargs)
    return True


def email_enqueue(message: EmailMessage) -> None:
    """Send ``message`` in the background (retried with the delays above)."""
    email_deliver.enqueue(payload=email_to_payload(message))


@task()
def email_deliver(*, payload: dict, attempt: int = 1) -> None:
    message = email_from_payload(payload)
    try:
        message.send()
    except (smtplib.SMTPException, OSError):
        if _retry_later(email_deliver, attempt, payload=payload):
            logger.warning("e-mail delivery failed (attempt %s), retrying later", attempt)
            return
        logger.exception("e-mail delivery failed for good after %s attempts", attempt)
        raise


# --- Notifications (portal/notifications.py) -----------------------------------------------------
def _notification_try(notification: int, attempt: int) -> None:
    error = notification_send(pk=notification, attempt=attempt)
    if not error:
        return
    if _retry_later(notification_deliver, attempt, notification=notification):
        logger.warning("notification %s failed (attempt %s), retrying later", notification, attempt)
        return
    notification_give_up(pk=notification, attempt=attempt)
    logger.error(
        "notification %s failed for good after %s attempts: %s", notification, attempt, error
    )


@task()
def notification_deliver(*, notification: int, attempt: int = 1) -> None:
    """Send one recorded notification (its id); a failure retries it alone, later."""
    _notification_try(notification, attempt)


@task()
def notifications_deliver(*, notifications: list[int]) -> None:
    """Send a batch recorded together (a bill import's batch, a reminder run's): one task for
    the batch; a notification that fails is retried alone by ``notification_deliver``. One that
    raises (its row cannot be claimed or marked) is skipped and kept under Job problems
    (portal.core.jobs), and the rest of the batch is sent. Rows are not wrapped in a transaction:
    a claim commits before the provider is called (portal/notification_delivery.py)."""
    run = JobRun("notifications_deliver")
    for notification in notifications:
        with run.row(f"portal.notification:{notification}", atomic=False):
            _notification_try(notification, 1)
    if run.skipped:
        logger.warning("notifications_deliver: %s", run.summary())


# --- Recurring jobs (portal/core/schedule.py; docs/operations.md, "The commands") -------------
@cron("0 * * * *")
@task()
def audit_publish_head_scheduled() -> None:
    """The audit chain's head into the log, hourly (docs/audit.md, "Publishing the head")."""
    command_run_scheduled("audit_publish_head")


@cron("30 3 * * *")
@task()
def audit_verify_scheduled() -> None:
    """Walk the whole audit chain once a day; a break is logged as a warning (status 3)."""
    command_run_scheduled("audit_verify", lock_seconds=6 * 3600)


@cron("45 3 * * *")
@task()
def cleanup_expired_scheduled() -> None:
    """Remove expired sessions, old binding codes and e-mail confirmation keys
    (``portal.services.expired_cleanup``)."""
    command_run_scheduled("cleanup_expired")


@cron("15 4 * * *")
@task()
def prune_task_results_scheduled() -> None:
    """Remove finished task rows older than 14 days (django-tasks-db's own command). A queue
    that keeps no rows (the embedded default runs tasks in-process) has nothing to remove."""
    if isinstance(default_task_backend, DatabaseBackend):
        command_run_scheduled("prune_db_task_results")
