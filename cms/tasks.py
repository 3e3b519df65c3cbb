"""Background work of the CMS. Tasks call services; they hold no business logic."""

from crontask import cron
from django.tasks import task

from portal.core.schedule import command_run_scheduled

from . import reach


@task()
def outage_fan_out(*, notice: int, version: str) -> None:
    """Tell the people an outage notice reaches, batch by batch (``cms.reach.outage_notify``).
    Safe to run twice: nobody is told twice of one version."""
    reach.outage_notify(notice_id=notice, version=version)


@task()
def outage_cancel_fan_out(*, notice: str, cancellation: int, until: str) -> None:
    """Tell the people told of an outage notice that it is cancelled
    (``cms.reach.outage_cancel_notify``). Safe to run twice: nobody is told twice of one
    cancellation."""
    reach.outage_cancel_notify(notice=notice, cancellation=cancellation, until=until)


# --- Recurring jobs (portal/core/schedule.py; docs/operations.md, "The commands") -------------
@cron("* * * * *")
@task()
def publish_scheduled_scheduled() -> None:
    """Wagtail's scheduled publishing: notices go live, and expire, within a minute of the time
    the editor set."""
    command_run_scheduled("publish_scheduled")
