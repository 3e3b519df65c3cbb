"""The command behind every billing-system import (``import_accounts``, ``import_bills``,
``import_payments``): options, progress bar, rejects listed as they are found, exit status.

Exit status (``portal.core.jobs.ExitStatus``; docs/integration.md, "Exit statuses"):

- 0 every row was imported;
- 3 the import ran and committed, but some rows were rejected (listed, and left out);
- 4 ``--strict`` and at least one row was rejected, so nothing was imported;
- 2 nothing was imported because the import could not run: the file could not be opened or
  read, its format is unknown, its encoding or header is refused, or the command line is wrong;
- 1 crashed: Python's own status for an uncaught exception, a bug (nothing in the file can
  cause it: the reader turns every bad input into a refused file or a rejected row).
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from tqdm import tqdm

from portal.core.interchange import FORMATS, ImportReport, InterchangeError, format_for
from portal.core.jobs import ExitStatus

EXIT_STATUS_HELP = (
    "Exit status: 0 every row imported; 3 some rows rejected (listed), the others imported; "
    "4 --strict and a row rejected, nothing imported; 2 could not run (file unreadable, unknown "
    "format, encoding or header, wrong command line), nothing imported; 1 crashed (a bug)."
)


class ImportCommand(BaseCommand):
    """Subclasses name the import service (``run_import``) and say what it did (``summary``)."""

    @staticmethod
    def run_import(**kwargs) -> ImportReport:
        raise NotImplementedError

    def summary(self, report: ImportReport) -> str:
        raise NotImplementedError

    def add_arguments(self, parser):
        parser.add_argument("file", help="The file to import.")
        parser.add_argument(
            "--format",
            choices=FORMATS,
            help="csv or jsonl. Default: from the file's extension (.csv, .jsonl, .ndjson).",
        )
        parser.add_argument(
            "--strict",
            action="store_true",
            help="Import nothing, and exit with status 4, if any row is rejected.",
        )

    def handle(self, *args, file, format=None, strict=False, **options):
        fmt = format or format_for(file)
        if fmt is None:
            raise CommandError(
                _("Cannot tell the format from the name %(file)s: give --format csv or jsonl.")
                % {"file": file},
                returncode=ExitStatus.COULD_NOT_RUN,
            )
        try:
            stream = open(file, "rb")  # noqa: SIM115 (closed below, after the import)
        except OSError as error:
            raise CommandError(
                _("Cannot open %(file)s: %(error)s") % {"file": file, "error": error.strerror},
                returncode=ExitStatus.COULD_NOT_RUN,
            ) from None

        # A progress bar only for a person watching: never in cron mail or a pipeline's log.
        # The raw stream: Django's OutputWrapper appends a newline to every write, which would
        # break the bar's carriage-return redraws.
        terminal = self.stderr._out
        bar = tqdm(unit=" rows", file=terminal, dynamic_ncols=True) if terminal.isatty() else None

        def on_reject(error):
            if bar is None:
                self.stdout.write(str(error))
            else:
                with tqdm.external_write_mode(file=terminal):
                    self.stdout.write(str(error))

        try:
            with stream:
                report = self.run_import(
                    stream=stream,
                    fmt=fmt,
                    file_name=file,
                    strict=strict,
                    on_reject=on_reject,
                    on_progress=bar.update if bar is not None else None,
                )
        except InterchangeError as error:
            raise CommandError(str(error.message), returncode=ExitStatus.COULD_NOT_RUN) from None
        except OSError as error:  # the disk or a network share failed part-way: rolled back
            raise CommandError(
                _("The import of %(file)s could not run: %(error)s. Nothing was imported.")
                % {"file": file, "error": error.strerror or error},
                returncode=ExitStatus.COULD_NOT_RUN,
            ) from None
        finally:
            if bar is not None:
                bar.close()

        self.stdout.write(self.summary(report))
        if not report.committed:
            raise CommandError(
                _("--strict: %(rejected)s row(s) rejected, so nothing was imported.")
                % {"rejected": report.rejected},
                returncode=ExitStatus.REFUSED,
            )
        if report.rejected:
            raise CommandError(
                _(
                    "%(rejected)s row(s) were rejected and not imported (listed above); "
                    "the other rows were imported."
                )
                % {"rejected": report.rejected},
                returncode=ExitStatus.NEEDS_PERSON,
            )
        self.stdout.write(self.style.SUCCESS(_("Import complete.")))
