"""The commitment clocks' watch (docs/applications.md): staff are warned one working day before
a step's deadline, and a deadline that passes is recorded with the step and who held the case.

``deadline_watch`` is run by the scheduler (``manage.py watch_deadlines``, every few minutes).
It is safe to run twice, even at once: each clock is warned, and each miss recorded, by a
conditional update that only one run can win, and a missed deadline is never reset.
"""

import logging
from dataclasses import dataclass

from django.db import transaction

from portal.core import clock
from portal.core.audit import audit_record
from portal.core.calendar import add_working_days

from .models import CaseEvent, EventKind, StepClock

logger = logging.getLogger(__name__)


@dataclass
class WatchReport:
    warned: int = 0
    missed: int = 0


def _running():
    return StepClock.objects.filter(
        finished_at__isnull=True, paused_at__isnull=True, due_at__isnull=False
    ).select_related("case")


def warn_horizon():
    """Deadlines up to the end of the next working day are near."""
    return clock.day_end(add_working_days(clock.today(), 1))


def deadline_watch() -> WatchReport:
    report = WatchReport()
    now = clock.now()
    for running in _running().filter(warned_at__isnull=True, due_at__lte=warn_horizon()):
        with transaction.atomic():
            won = StepClock.objects.filter(pk=running.pk, warned_at__isnull=True).update(
                warned_at=now
            )
            if not won:
                continue
            CaseEvent.objects.create(
                case=running.case,
                kind=EventKind.WARNED,
                at=now,
                to_value=running.step,
                text=clock.localtime(running.due_at).strftime("%Y-%m-%d %H:%M"),
                internal=True,
            )
            report.warned += 1
    for running in _running().filter(missed_at__isnull=True, due_at__lt=now):
        with transaction.atomic():
            holder = running.case.assignee_id
            won = StepClock.objects.filter(pk=running.pk, missed_at__isnull=True).update(
                missed_at=now, missed_holder_id=holder
            )
            if not won:
                continue
            CaseEvent.objects.create(
                case=running.case,
                kind=EventKind.MISSED,
                at=now,
                to_value=running.step,
                internal=True,
            )
            audit_record(
                action="application.deadline_missed",
                obj=running.case,
                data={
                    "step": running.step,
                    "due_at": running.due_at.isoformat(),
                    "holder": holder,
                    "commitment": running.commitment,
                },
            )
            report.missed += 1
    return report
