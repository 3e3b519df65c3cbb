"""Background work of the payments app. Tasks call services; they hold no business logic."""

from crontask import cron
from django.tasks import task

from portal.core.schedule import command_run_scheduled

from . import receipt_pdf


@task()
def receipt_render(*, receipt_id: int) -> None:
    """Render and store a receipt's (or refund note's) PDF after the payment committed. A
    receipt already rendered is left as it is, so running this twice changes nothing. A failure
    is left to the download, which renders a receipt the task did not (receipt_pdf.receipt_pdf)."""
    receipt_pdf.receipt_store_pdf(receipt_id=receipt_id)


# --- Recurring jobs (portal/core/schedule.py; docs/operations.md, "The commands") -------------
@cron("*/15 * * * *")
@task()
def reconcile_payments_scheduled() -> None:
    """Credit what a lost webhook missed, expire unpaid attempts, send pending refunds again."""
    command_run_scheduled("reconcile_payments")


@cron("0 8 * * *")
@task()
def send_bill_reminders_scheduled() -> None:
    """The morning's reminders of bills due soon and overdue (Beijing time)."""
    command_run_scheduled("send_bill_reminders")
