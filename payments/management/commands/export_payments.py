"""Write the billing export (payments, refunds, reconnection requests) as JSON Lines
(payments/export.py; docs/integration.md, "Payments and reconnection requests out").

Each line is one message, ``{"seq": …, "kind": …, "data": {…}}``, in commit order. The consumer's
stored cursor moves only once the output is complete: a file is written under a temporary name
in the same directory and renamed into place, so a run that fails leaves no partial file and
the next run writes the same messages again. Run one export per consumer at a time.

Exit status (portal.core.jobs.ExitStatus; docs/operations.md): 0 written (perhaps nothing
new); 2 could not run (the command line was wrong, or the output's directory cannot be written);
1 crashed (nothing is left half-written, and the cursor has not moved).
"""

import json
import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from payments.export import (
    MAX_LIMIT,
    export_batch,
    export_cursor,
    export_cursor_advance,
    export_last_seq,
)
from portal.core.jobs import ExitStatus

DEFAULT_CONSUMER = "export_payments"
EXIT_USAGE = ExitStatus.COULD_NOT_RUN


class Command(BaseCommand):
    help = (
        "Write the payments, refunds and reconnection requests the billing system has not been "
        "given yet as JSON Lines, and move the consumer's cursor past them once the output is "
        "complete. Exit status: 0 written; 2 could not run (wrong command line, or the output's "
        "directory cannot be written); 1 crashed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--consumer",
            default=DEFAULT_CONSUMER,
            help=f"Whose cursor to read and move (default: {DEFAULT_CONSUMER}).",
        )
        parser.add_argument(
            "--after",
            type=int,
            metavar="N",
            help="Start after seq N instead of the consumer's cursor (to write a lost file again).",
        )
        parser.add_argument(
            "--limit",
            type=int,
            metavar="N",
            help=(
                "Write about N messages at most (a transaction's messages are never split). "
                "Default: everything not yet exported."
            ),
        )
        parser.add_argument(
            "--output",
            metavar="FILE",
            help="Write to FILE (replaced only once complete). Default: standard output.",
        )

    def handle(self, *args, consumer, after=None, limit=None, output=None, **options):
        if consumer.startswith("client:"):
            raise CommandError(
                _("Consumer names starting with client: belong to integration clients."),
                returncode=EXIT_USAGE,
            )
        if limit is not None and limit < 1:
            raise CommandError(_("--limit must be at least 1."), returncode=EXIT_USAGE)
        if after is not None and not 0 <= after <= export_last_seq():
            raise CommandError(
                _("--after must be between 0 and the last message's seq, %(last)s.")
                % {"last": export_last_seq()},
                returncode=EXIT_USAGE,
            )
        start = export_cursor(consumer=consumer) if after is None else after

        if output is None:
            count, cursor = self._write(self.stdout, start, limit)
            self.stdout.flush()
        else:
            count, cursor = self._write_file(Path(output), start, limit)
        stored = export_cursor_advance(consumer=consumer, seq=cursor)

        summary = _(
            "%(count)s message(s) after seq %(start)s written to %(output)s; the cursor of "
            "%(consumer)s is now %(cursor)s."
        ) % {
            "count": count,
            "start": start,
            "output": output or _("standard output"),
            "consumer": consumer,
            "cursor": stored,
        }
        # The summary never mixes with the messages on standard output.
        (self.stderr if output is None else self.stdout).write(summary)

    def _write(self, out, start: int, limit: int | None) -> tuple[int, int]:
        """Write the messages after ``start``; return (how many, the last seq written)."""
        count, cursor = 0, start
        while limit is None or count < limit:
            want = MAX_LIMIT if limit is None else min(MAX_LIMIT, limit - count)
            messages, cursor = export_batch(after=cursor, limit=want)
            if not messages:
                break
            for message in messages:
                out.write(json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += len(messages)
        return count, cursor

    def _write_file(self, path: Path, start: int, limit: int | None) -> tuple[int, int]:
        """Write to a temporary file beside ``path``, then rename it into place: the file is
        either the whole export or not there at all."""
        try:
            handle, temporary = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
            )
        except OSError as error:
            raise CommandError(
                _("Cannot write to %(dir)s: %(error)s")
                % {"dir": path.parent, "error": error.strerror},
                returncode=EXIT_USAGE,
            ) from None
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
                result = self._write(out, start, limit)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return result
