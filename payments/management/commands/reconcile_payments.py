"""Reconcile online payments with the gateway (payments/reconcile.py; docs/payments.md).

Exit status (portal.core.jobs.ExitStatus; docs/operations.md): 0 done and nothing needs a person
(repairs and expiries may have been made: the report lists them); 3 done, but something needs a
person or some rows were skipped on an error (listed, and kept under Job problems), so a
scheduler's alert fires; 2 could not run: a wrong command line, or the gateway did not answer
for a step that needs it (named; the other steps ran); 1 crashed.
"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from payments.reconcile import DEFAULT_DAYS, reconcile_payments
from portal.core.jobs import ExitStatus, command_finish


class Command(BaseCommand):
    help = (
        "Compare online payments with the payment gateway: repair payments whose webhook was "
        "missed or failed (through the same fulfilment as the webhook), expire unpaid payments "
        "past the end of their day, and list what needs a person. A row that fails is skipped, "
        "counted and kept under Job problems; the run goes on. Exit status: 0 done, nothing "
        "needs a person; 3 done, but something needs a person or rows were skipped (listed); "
        "2 could not run (wrong command line, or the gateway did not answer: the step is "
        "named); 1 crashed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since",
            metavar="YYYY-MM-DD",
            help=(
                f"Check payments created on or after this Asia/Shanghai date. Default: "
                f"{DEFAULT_DAYS} days before today."
            ),
        )

    def handle(self, *args, since=None, **options):
        day = None
        if since:
            try:
                day = date.fromisoformat(since)
            except ValueError:
                raise CommandError(
                    _("--since must be a date written YYYY-MM-DD, not %(value)s")
                    % {"value": since},
                    returncode=ExitStatus.COULD_NOT_RUN,
                ) from None
        report = reconcile_payments(since=day)
        run = report.run

        self.stdout.write(
            _("Payments created since %(date)s (Asia/Shanghai):")
            % {"date": report.since.isoformat()}
        )
        sections = (
            (_("Repaired"), list(report.repaired.values())),
            (_("Expired"), list(report.expired.values())),
            (_("Needs a person"), list(report.needs_person.values())),
            (_("Skipped on an error"), run.skipped_lines()),
        )
        for title, lines in sections:
            self.stdout.write(f"{title}: {len(lines)}")
            for line in lines:
                self.stdout.write(f"  {line}")
        for step, why in run.not_run.items():
            self.stdout.write(_("Not done: %(step)s (%(why)s)") % {"step": step, "why": why})
        self.stdout.write(_("Checked: %(checked)s") % {"checked": report.checked_line()})

        needs = len(report.needs_person)
        if run.exit_status(needs_person=needs) == ExitStatus.DONE:
            if report.nothing_to_fix:
                self.stdout.write(self.style.SUCCESS(_("Nothing to fix.")))
            else:
                self.stdout.write(self.style.SUCCESS(_("Repaired; nothing needs a person.")))
        command_finish(run, needs_person=needs, write=self.stdout.write)
