"""Import payments made through other channels from a billing-system file (docs/integration.md).

Options and exit status as every import (portal/management/import_command.py).
"""

from django.utils.translation import gettext as _

from payments.payment_import import payments_import
from portal.management.import_command import EXIT_STATUS_HELP, ImportCommand


class Command(ImportCommand):
    help = (
        "Import payments made at a counter, by bank direct debit or in another app, from a CSV "
        "or JSON Lines file exported by the billing system. Idempotent by payment reference: a "
        "second run of the same file changes nothing. " + EXIT_STATUS_HELP
    )

    @staticmethod
    def run_import(**kwargs):
        return payments_import(**kwargs)

    def summary(self, report) -> str:
        return _(
            "%(file)s (%(format)s, sha256 %(sha256)s): %(rows)s rows: %(created)s payments "
            "posted, %(unchanged)s already imported, %(rejected)s rejected, %(flagged)s towards "
            "a cancelled bill (held as credit)."
        ) % {
            "file": report.file_name,
            "format": report.format,
            "sha256": report.sha256,
            **report.counts,
        }
