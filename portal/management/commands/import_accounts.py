"""Import electricity accounts from a billing-system file (docs/integration.md); options and
exit status as every import (portal/management/import_command.py)."""

from django.utils.translation import gettext as _

from portal.account_import import accounts_import
from portal.management.import_command import EXIT_STATUS_HELP, ImportCommand


class Command(ImportCommand):
    help = (
        "Import electricity accounts from a CSV or JSON Lines file exported by the billing "
        "system. Upserts by account number; a second run of the same file changes nothing. "
        + EXIT_STATUS_HELP
    )

    @staticmethod
    def run_import(**kwargs):
        return accounts_import(**kwargs)

    def summary(self, report) -> str:
        return _(
            "%(file)s (%(format)s, sha256 %(sha256)s): %(rows)s rows: %(created)s created, "
            "%(updated)s updated, %(unchanged)s unchanged, %(rejected)s rejected, "
            "%(flagged)s flagged with an unknown tariff."
        ) % {
            "file": report.file_name,
            "format": report.format,
            "sha256": report.sha256,
            **report.counts,
        }
