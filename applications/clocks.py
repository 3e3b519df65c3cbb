"""The commitment clocks' watch (docs/applications.md): staff are warned one working day before
a step's deadline, and a deadline that passes is recorded with the step and who held the case.

Warnings are e-mailed, once, to whoever holds the case, or to everyone who works cases while
nobody does, each in their language; the case's history records it for the queue.

``deadline_watch`` is run by the scheduler (``manage.py watch_deadlines``, every few minutes).
It is safe to run twice, even at once: each clock is warned, and each miss recorded, by a
conditional update that only one run can win, and a missed deadline is never reset. Each clock is
its own row of a ``portal.core.jobs.JobRun``: one that fails is kept for a person and skipped.
"""

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from portal.core import clock
from portal.core.audit import audit_record
from portal.core.calendar import add_working_days
from portal.core.jobs import JobRun
from portal.tasks import email_enqueue

from .models import CaseEvent, EventKind, StepClock
from .selectors import case_workers

logger = logging.getLogger(__name__)


@dataclass
class WatchReport:
    warned: int = 0
    missed: int = 0
    run: JobRun = field(default_factory=lambda: JobRun("watch_deadlines"))


def _running():
    return StepClock.objects.filter(
        finished_at__isnull=True, paused_at__isnull=True, due_at__isnull=False
    ).select_related("case__assignee")


def warn_horizon():
    """Deadlines up to the end of the next working day are near."""
    return clock.day_end(add_working_days(clock.today(), 1))


def deadline_watch() -> WatchReport:
    report = WatchReport()
    now = clock.now()
    run = report.run
    near = _running().filter(warned_at__isnull=True, due_at__lte=warn_horizon())
    with run.step("warn", _("warning staff of deadlines near")):
        for running in near:
            with run.row(running):
                report.warned += _warn(running, now)
    late = _running().filter(missed_at__isnull=True, due_at__lt=now)
    with run.step("missed", _("recording missed deadlines")):
        for running in late:
            with run.row(running):
                report.missed += _record_missed(running, now)
    return report


def _warn(running: StepClock, now) -> int:
    """Mark the clock warned and e-mail staff (1), unless another run did first (0)."""
    won = StepClock.objects.filter(pk=running.pk, warned_at__isnull=True).update(warned_at=now)
    if won:
        messages = _warning_emails(running)
        transaction.on_commit(lambda: [email_enqueue(m) for m in messages], robust=True)
        CaseEvent.objects.create(
            case=running.case,
            kind=EventKind.WARNED,
            at=now,
            to_value=running.step,
            text=clock.localtime(running.due_at).strftime("%Y-%m-%d %H:%M"),
            internal=True,
        )
    return won


def _warning_emails(running: StepClock) -> list[EmailMessage]:
    case = running.case
    recipients = [case.assignee] if case.assignee_id else list(case_workers())
    url = settings.SITE_URL.rstrip("/") + reverse("application_queue:inspect", args=(case.pk,))
    messages = []
    for user in recipients:
        if not user.email:
            continue
        with translation.override(user.language or settings.LANGUAGE_CODE):
            context = {
                "case": case,
                "clock": running,
                "kind": case.get_category_display(),
                "due": clock.localtime(running.due_at).strftime("%Y-%m-%d %H:%M"),
                "url": url,
            }
            subject = render_to_string("applications/email/deadline_warning.subject.txt", context)
            body = render_to_string("applications/email/deadline_warning.txt", context)
        messages.append(
            EmailMessage(" ".join(subject.split()), body.strip() + "\n", to=[user.email])
        )
    return messages


def _record_missed(running: StepClock, now) -> int:
    """Record the missed deadline with who held the case (1), unless another run did (0)."""
    holder = running.case.assignee_id
    won = StepClock.objects.filter(pk=running.pk, missed_at__isnull=True).update(
        missed_at=now, missed_holder_id=holder
    )
    if won:
        CaseEvent.objects.create(
            case=running.case, kind=EventKind.MISSED, at=now, to_value=running.step, internal=True
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
    return won
