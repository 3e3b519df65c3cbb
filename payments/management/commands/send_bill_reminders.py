"""Remind people of bills due soon and overdue (payments/reminders.py). Run once a day.

Idempotent: each bill is announced as due soon once, and as overdue once per week it stays
unpaid, however often the command runs. A bill that fails is skipped, counted and kept under Job
problems; the other bills are reminded.

Exit status (portal.core.jobs.ExitStatus; docs/operations.md): 0 done; 3 done, but some bills
were skipped on an error (listed); 1 crashed.
"""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from payments.reminders import DUE_SOON_DAYS, bill_reminders_send
from portal.core.jobs import command_finish


class Command(BaseCommand):
    help = (
        f"Send the daily bill reminders: unpaid bills due within {DUE_SOON_DAYS} days (once per "
        "bill) and overdue bills with the penalty so far (once per week overdue), to the people "
        "bound to their accounts; then queue again notifications whose task was lost. A bill "
        "that fails is skipped, counted and kept under Job problems. Exit status: 0 done; 3 done "
        "with bills skipped (listed); 1 crashed."
    )

    def handle(self, *args, **options):
        report = bill_reminders_send()
        run = report.run
        self.stdout.write(_("Bill reminders for %(day)s:") % {"day": report.day.isoformat()})
        self.stdout.write(
            _("Due soon: %(bills)s bills, %(sent)s new notifications")
            % {"bills": report.due_soon_bills, "sent": report.due_soon_sent}
        )
        self.stdout.write(
            _("Overdue: %(bills)s bills, %(sent)s new notifications")
            % {"bills": report.overdue_bills, "sent": report.overdue_sent}
        )
        self.stdout.write(_("Notifications queued again: %(count)s") % {"count": report.requeued})
        self.stdout.write(_("Skipped on an error: %(count)s") % {"count": len(run.skipped)})
        for line in run.skipped_lines():
            self.stdout.write(f"  {line}")
        command_finish(run, write=self.stdout.write)
