"""Reconcile online payments with the gateway (payments/reconcile.py; docs/payments.md).

Exit status: 0 nothing needs a person (repairs and expiries may have been made: the report lists
them); 1 something needs a person (listed under "Needs a person"), so a scheduler's alert fires;
2 the command line was wrong.
"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from payments.reconcile import DEFAULT_DAYS, reconcile_payments

EXIT_NEEDS_PERSON = 1
EXIT_USAGE = 2


class Command(BaseCommand):
    help = (
        "Compare online payments with the payment gateway: repair payments whose webhook was "
        "missed or failed (through the same fulfilment as the webhook), expire unpaid payments "
        "past the end of their day, and list what needs a person. Exit status: 0 nothing needs "
        "a person, 1 something does (listed), 2 wrong command line."
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
                    returncode=EXIT_USAGE,
                ) from None
        report = reconcile_payments(since=day)

        self.stdout.write(
            _("Payments created since %(date)s (Asia/Shanghai):")
            % {"date": report.since.isoformat()}
        )
        sections = (
            (_("Repaired"), report.repaired),
            (_("Expired"), report.expired),
            (_("Needs a person"), report.needs_person),
        )
        for title, lines in sections:
            self.stdout.write(f"{title}: {len(lines)}")
            for line in lines.values():
                self.stdout.write(f"  {line}")
        self.stdout.write(_("Checked: %(checked)s") % {"checked": report.checked_line()})

        if report.needs_person:
            raise CommandError(
                _("%(count)s item(s) need a person (listed above).")
                % {"count": len(report.needs_person)},
                returncode=EXIT_NEEDS_PERSON,
            )
        if report.nothing_to_fix:
            self.stdout.write(self.style.SUCCESS(_("Nothing to fix.")))
        else:
            self.stdout.write(self.style.SUCCESS(_("Repaired; nothing needs a person.")))
