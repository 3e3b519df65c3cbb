"""Import bills from a billing-system file (docs/integration.md); options and exit status as
every import (portal/management/import_command.py)."""

from django.utils.translation import gettext as _

from payments.bill_import import bills_import
from portal.management.import_command import EXIT_STATUS_HELP, ImportCommand


class Command(ImportCommand):
    help = (
        "Import bills from a CSV or JSON Lines file exported by the billing system. A new bill "
        "number creates a bill; a known one with new values replaces, adjusts or cancels it; a "
        "second run of the same file changes nothing. " + EXIT_STATUS_HELP
    )

    @staticmethod
    def run_import(**kwargs):
        return bills_import(**kwargs)

    def summary(self, report) -> str:
        return _(
            "%(file)s (%(format)s, sha256 %(sha256)s): %(rows)s rows: %(created)s created, "
            "%(updated)s updated, %(unchanged)s unchanged, %(rejected)s rejected, "
            "%(flagged)s flagged with an unknown tariff. Existing bills: %(replaced)s replaced, "
            "%(adjusted)s adjusted, %(cancelled)s cancelled."
        ) % {
            "file": report.file_name,
            "format": report.format,
            "sha256": report.sha256,
            **report.counts,
            **report.revisions,
        }
