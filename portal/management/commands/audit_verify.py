"""Walk the audit chain and say whether it is whole (docs/audit.md, "Verification").

Exit status (portal.core.jobs.ExitStatus; docs/operations.md): 0 the chain is whole; 3 it is
broken (the first bad row is named): a person must look; 2 could not run (a --head that is not
SEQ:MAC, or a --chunk-size below 1); 1 crashed.
"""

import logging

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from portal.core.audit import audit_chain_verify, format_head, parse_head
from portal.core.audit_db import EXPECTED_TRIGGERS, audit_triggers
from portal.core.jobs import ExitStatus

logger = logging.getLogger("powerhall.audit")


class Command(BaseCommand):
    help = (
        "Verify the audit log's HMAC chain. Exits 0 and prints the count and head SEQ:MAC when "
        "the chain is whole; exits 3 naming the first bad row and why when it is broken; 2 "
        "when the command line is wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--head",
            metavar="SEQ:MAC",
            help=(
                "A head published earlier (audit_publish_head). The row SEQ must still exist "
                "with that MAC, which also catches rows removed from the end."
            ),
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=2000,
            help="Rows fetched per round trip (memory stays flat either way).",
        )

    def handle(self, *args, head=None, chunk_size=2000, **options):
        expected = None
        if chunk_size < 1:
            raise CommandError(
                "--chunk-size must be at least 1", returncode=ExitStatus.COULD_NOT_RUN
            )
        if head:
            try:
                expected = parse_head(head)
            except ValueError as error:
                raise CommandError(str(error), returncode=ExitStatus.COULD_NOT_RUN) from None

        missing = sorted(set(EXPECTED_TRIGGERS.get(connection.vendor, [])) - set(audit_triggers()))
        if missing:
            # Not a break in the chain, but nothing now stops the table being edited.
            message = "append-only triggers missing on the audit table: " + ", ".join(missing)
            logger.warning(message)
            self.stderr.write(f"WARNING: {message}")

        report = audit_chain_verify(expected_head=expected, chunk_size=chunk_size)
        if not report.whole:
            message = (
                f"audit log BROKEN at seq {report.broken.seq}: {report.broken.reason} "
                f"({report.count} rows verified before it)"
            )
            logger.error(message)
            raise CommandError(message, returncode=ExitStatus.NEEDS_PERSON)

        head_text = format_head(report.head_seq, report.head_mac)
        logger.info("audit log verified: %s events, head %s", report.count, head_text)
        self.stdout.write(f"audit log OK: {report.count} events, head {head_text}")
