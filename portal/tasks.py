"""Background work of the portal app. Tasks call services; they hold no business logic.

Neither django.tasks nor the database worker retries a failed task, so delivery retries are
written here: a failed attempt re-enqueues itself with a growing delay, up to MAX_ATTEMPTS.
"""

import logging
import smtplib
from datetime import timedelta

from django.tasks import default_task_backend, task
from django.utils import timezone

from .email import email_from_payload

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
    task_func.using(run_after=timezone.now() + delay).enqueue(attempt=attempt + 1, **kwargs)
    return True


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
