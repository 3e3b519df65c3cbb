"""Background work of the applications app. Tasks call services; they hold no business logic."""

from crontask import cron
from django.tasks import task

from portal.core.schedule import command_run_scheduled


# --- Recurring jobs (portal/core/schedule.py; docs/operations.md, "The commands") -------------
@cron("*/5 * * * *")
@task()
def watch_deadlines_scheduled() -> None:
    """Warn staff of steps due by the end of the next working day; record missed deadlines."""
    command_run_scheduled("watch_deadlines")
