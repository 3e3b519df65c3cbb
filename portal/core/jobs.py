"""Commands and scheduled jobs: the exit statuses they all share, and one way to work through
rows so that one bad row never stops the rest (docs/operations.md).

A scheduler, a pipeline or a person reading ``$?`` must tell "done" from "done, but some rows
need a person" from "could not run at all" from "crashed", whichever command it ran.

A job that works through rows (reconciliation, reminders, a batch of notifications) does::

    run = JobRun("reconcile_payments")
    with run.step("expire", _("expiring unpaid payments")):
        for attempt in attempts:
            with run.row(attempt):
                ...  # the row's work

Each row runs in its own savepoint (or, with ``atomic=False``, in the transactions its services
open: see ``JobRun.row``). An exception in a row is logged once with its traceback, recorded
for a person (``JobProblem``: job, step, row, error; one record per row however many runs meet
it), counted and skipped; the loop goes on. A row that finds the step cannot go on at all (the
payment gateway does not answer) raises ``CannotGoOn``: the step stops there and the run says
it could not do it. ``run.exit_status()`` and ``run.summary()`` give the command its ending.
"""

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import IntEnum

from django.core.management.base import CommandError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from . import clock
from .models import JobProblem

logger = logging.getLogger("powerhall.jobs")


class ExitStatus(IntEnum):
    DONE = 0
    """Did all its work; nothing needs a person."""
    CRASHED = 1
    """An unexpected error stopped it: Python's own status for an uncaught exception, with the
    traceback on stderr and in the log. Work already committed stays committed."""
    COULD_NOT_RUN = 2
    """Nothing was done: a wrong command line, a file that cannot be read, a service that is
    down. Running it again once the cause is fixed is safe."""
    NEEDS_PERSON = 3
    """Done, but some rows were rejected or skipped, or something needs a person: the summary
    lists them. The rest of the work is done and committed."""
    REFUSED = 4
    """``--strict`` and at least one row was rejected, so nothing was kept."""


class CannotGoOn(Exception):
    """Raised by a row's work when its whole step cannot go on (a service it needs does not
    answer): not the row's fault, so not recorded against it. ``JobRun.step`` stops the step
    and the run reports it could not do it (exit status 2)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def row_ref(row) -> str:
    """How a problem names its row: ``"payments.webhookevent:12"`` for a model instance (its
    primary key: what staff look up in the back office), a string as it is."""
    if isinstance(row, models.Model):
        return f"{row._meta.label_lower}:{row.pk}"
    return str(row)


def _error_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


_ERROR_MAX = JobProblem._meta.get_field("error").max_length
_ROW_MAX = JobProblem._meta.get_field("row").max_length
_TRACEBACK_MAX = 20_000


def job_problem_record(*, job: str, step: str = "", row: str, error: str, trace: str = "") -> None:
    """Keep (or count again) the problem of ``job``'s ``step`` with ``row``: one record per job,
    step and row, its count and last error brought up to date. Its own transaction: call it
    after the failed row's savepoint has rolled back, so the record stays. Two runs at once may
    both try to create it; the loser of the unique index counts on the winner's."""
    row = row[:_ROW_MAX]
    now = clock.now()
    latest = {"error": error[:_ERROR_MAX], "traceback": trace[-_TRACEBACK_MAX:], "last_seen": now}
    key = {"job": job, "step": step, "row": row}
    with transaction.atomic():
        if JobProblem.objects.filter(**key).update(count=F("count") + 1, **latest):
            return
        try:
            with transaction.atomic():
                JobProblem.objects.create(**key, **latest, first_seen=now)
        except IntegrityError:
            JobProblem.objects.filter(**key).update(count=F("count") + 1, **latest)


@dataclass(frozen=True)
class Skipped:
    step: str
    row: str
    error: str


@dataclass
class JobRun:
    """One run of a job: its rows done and skipped, and the steps it could not do."""

    job: str
    done: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    not_run: dict[str, str] = field(default_factory=dict)
    """Step (its label) → why it could not be done."""
    _step: str = ""

    @contextmanager
    def step(self, name: str, label: str = "") -> Iterator[None]:
        """The rows inside belong to step ``name`` (problems are kept per step). A row raising
        ``CannotGoOn`` ends the step: the run records it under ``label`` as not done."""
        outer, self._step = self._step, name
        try:
            yield
        except CannotGoOn as stop:
            logger.warning("%s: step %s could not go on: %s", self.job, name, stop.reason)
            self.not_run[label or name] = stop.reason
        finally:
            self._step = outer

    @contextmanager
    def row(self, row, *, atomic: bool = True) -> Iterator[None]:
        """Do one row's work (the ``with`` block): done, or skipped and recorded.

        ``atomic``: the row's work is one transaction (a savepoint inside the caller's), undone
        whole if it fails. Pass False for work that calls a network service between its own
        transactions (reconciliation asks the payment gateway): one transaction around it would
        hold its locks while waiting on the network. Each of its transactions then stands or
        falls alone, as from a web request; the row still gets a savepoint if the caller is in a
        transaction, so a failed row never leaves that transaction broken."""
        ref = row_ref(row)
        try:
            if atomic or connection.in_atomic_block:
                with transaction.atomic():
                    yield
            else:
                yield
        except CannotGoOn:
            raise
        except Exception as error:
            # Only after the row's savepoint rolled back: the record must not go with it.
            logger.exception("%s: %s failed; skipped", self.job, ref)
            line = _error_line(error)
            self.skipped.append(Skipped(self._step, ref, line))
            job_problem_record(
                job=self.job, step=self._step, row=ref, error=line, trace=traceback.format_exc()
            )
        else:
            self.done += 1

    def exit_status(self, *, needs_person: int = 0) -> ExitStatus:
        """2 if a step could not be done, else 3 if a row was skipped or ``needs_person`` things
        need a person, else 0."""
        if self.not_run:
            return ExitStatus.COULD_NOT_RUN
        if self.skipped or needs_person:
            return ExitStatus.NEEDS_PERSON
        return ExitStatus.DONE

    def skipped_lines(self) -> list[str]:
        return [
            f"{item.step + ': ' if item.step else ''}{item.row}: {item.error}"
            for item in self.skipped
        ]

    def summary(self, *, needs_person: int = 0) -> str:
        """The run's last line: "Done.", "Done with N skipped …", or "Could not run: …"."""
        values = {"skipped": len(self.skipped), "needs": needs_person}
        if self.not_run:
            steps = "; ".join(f"{step} ({why})" for step, why in self.not_run.items())
            line = _("Could not run: %(steps)s. Run it again once that is fixed.") % {
                "steps": steps
            }
            if self.skipped:
                line += " " + _("%(skipped)s row(s) skipped.") % values
            return line
        if self.skipped and needs_person:
            return (
                _(
                    "Done with %(skipped)s skipped; %(needs)s item(s) need a person. Skipped rows "
                    "are kept under Job problems in the back office."
                )
                % values
            )
        if self.skipped:
            return (
                _(
                    "Done with %(skipped)s skipped. Skipped rows are kept under Job problems in "
                    "the back office."
                )
                % values
            )
        if needs_person:
            return _("Done; %(needs)s item(s) need a person.") % values
        return _("Done.")


def command_finish(run: JobRun, *, needs_person: int = 0, write=None) -> None:
    """End a management command: write the summary (``write``: the command's stdout writer) and
    exit with the run's status; a status other than 0 leaves as a ``CommandError`` carrying
    it (Django prints the summary on stderr and exits with it)."""
    status = run.exit_status(needs_person=needs_person)
    summary = run.summary(needs_person=needs_person)
    if status == ExitStatus.DONE:
        if write is not None:
            write(summary)
        return
    raise CommandError(summary, returncode=status)
