"""Warn staff of application deadlines that are near and record those that passed
(applications/clocks.py). Run every few minutes; safe to run twice, even at once."""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from applications.clocks import deadline_watch
from portal.core.jobs import command_finish


class Command(BaseCommand):
    help = (
        "Warn staff of application steps due by the end of the next working day (once per step) "
        "and record steps whose deadline has passed (once, with who held the case). Exit status: 0 "
        "done; 3 done with clocks skipped on an error (kept under Job problems); 1 crashed."
    )

    def handle(self, *args, **options):
        report = deadline_watch()
        self.stdout.write(
            _("Deadlines near, staff warned: %(warned)s. Deadlines missed, recorded: %(missed)s.")
            % {"warned": report.warned, "missed": report.missed}
        )
        command_finish(report.run, write=self.stdout.write)
