"""Recurring jobs run by the scheduler (docs/deploy.md, "The scheduler").

Each app declares its recurring jobs in its own ``tasks.py`` as tasks with a crontab line
(django-crontask's ``@cron``); ``manage.py crontask`` is the one scheduler process: at each time
it enqueues the task, and a task worker runs it. The task's body is the management command an
operator would run by hand (docs/operations.md), run here by ``command_run_scheduled``::

    @cron("*/15 * * * *")
    @task()
    def reconcile_payments_scheduled() -> None:
        command_run_scheduled("reconcile_payments")

The crontab lines are Beijing time (``TIME_ZONE``), whatever the servers' zone.

Every job is safe to run twice at once on its own (what it does is keyed on the rows it changes).
On top of that, one run of a job at a time: a run that finds the previous one still going (a
reconciliation waiting on a slow provider when the next quarter hour comes) is skipped, since the
running one does the same work. The lock is a cache key (Redis in production, shared by every
worker) that expires by itself after ``lock_seconds`` should a worker die holding it.
"""

import io
import logging
import uuid

from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from .jobs import ExitStatus

logger = logging.getLogger("powerhall.jobs")

LOCK_SECONDS = 30 * 60


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def command_run_scheduled(name: str, *args: str, lock_seconds: int = LOCK_SECONDS) -> int | None:
    """Run the management command ``name`` as the scheduler's job: the last line of its report
    goes to the log (logger ``powerhall.jobs``, in English), and its exit status decides how the
    task ends.

    - 0 (done) and 3 (done, but something needs a person: kept under Job problems) end the task
      as done, with the summary logged as info or as a warning;
    - 2 (could not run) and 1 (crashed) end it as failed, so the task queue's results show it
      and the next scheduled run tries again.

    Returns the exit status, or None when another run of the same job was still going."""
    lock = f"powerhall:job-running:{name}"
    token = uuid.uuid4().hex
    if not cache.add(lock, token, timeout=lock_seconds):
        logger.info("job %s: skipped, the previous run is still going", name)
        return None
    out = io.StringIO()
    try:
        with translation.override("en"):  # the log is read in English, as the rest of it
            call_command(name, *args, stdout=out, stderr=out)
        logger.info("job %s: %s", name, _last_line(out.getvalue()) or "done")
        return ExitStatus.DONE
    except CommandError as error:
        status = error.returncode
        if status == ExitStatus.NEEDS_PERSON:
            logger.warning("job %s: %s", name, error)
            return status
        logger.error("job %s ended with status %s: %s", name, status, error)
        raise
    finally:
        if cache.get(lock) == token:
            cache.delete(lock)
