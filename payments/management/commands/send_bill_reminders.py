"""Remind people of bills due soon and overdue (payments/reminders.py). Run once a day.

Idempotent: each bill is announced as due soon once, and as overdue once per week it stays
unpaid, however often the command runs. Exit status 0.
"""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from payments.reminders import DUE_SOON_DAYS, bill_reminders_send


class Command(BaseCommand):
    help = (
        f"Send the daily bill reminders: unpaid bills due within {DUE_SOON_DAYS} days (once per "
        "bill) and overdue bills with the penalty so far (once per week overdue), to the people "
        "bound to their accounts; then queue again notifications whose task was lost."
    )

    def handle(self, *args, **options):
        report = bill_reminders_send()
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
