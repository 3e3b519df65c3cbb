"""Working an application: the only code that changes a case (docs/applications.md).

Every change goes through ``portal.core.transitions.transition`` (row lock, refused moves, an
audit record, the case's own history row, work after commit), so two members of staff moving one
case at once cannot both win, and nothing happens to a case that its history does not show.

- **Status** (``CASE``): draft → submitted → in progress → completed, with waiting on the
  customer, rejection and withdrawal on the way. Only a case not yet accepted can be withdrawn.
- **Step** (``applications.kinds.step_workflow``): the kind's steps for the case's customer class,
  one after the other; reaching the last completes the case.
- **Clocks.** Each step starts a ``StepClock`` with the time limit of the step's commitment in the
  rule set in use (``applications.commitments``); it stops while the case waits on the customer
  and resumes, lengthened by the time it stood still, when they answer. A missed deadline is
  recorded by ``applications.clocks`` and never reset.
- **The customer hears of every status change** (``NotificationKind.APPLICATION_STATUS``), after
  the commit, in their language.
"""

import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from portal.core import clock
from portal.core.audit import audit_record
from portal.core.calendar import add_working_days, business_calendar
from portal.core.errors import InvalidInput, NotAllowed
from portal.core.transitions import TransitionRefused, Workflow, transition
from portal.models import NotificationKind, User
from portal.notifications import language_for, notify

from .commitments import deadline, rule_for
from .connection import step_done_message
from .kinds import documents_for, step_workflow, steps_for
from .models import (
    ApplicationKind,
    Case,
    CaseChannel,
    CaseDocument,
    CaseEvent,
    CaseStatus,
    DocumentType,
    EventKind,
    KindVersion,
    Step,
    StepClock,
    TimeUnit,
)
from .survey import survey_schedule
from .uploads import document_check, storage_name

S = CaseStatus


def _status_history(case, *, current, to, actor, data):
    CaseEvent.objects.create(
        case=case,
        kind=EventKind.STATUS,
        at=clock.now(),
        actor=actor,
        from_value=current,
        to_value=to,
        text=data.get("reason", ""),
    )


def _step_history(case, *, current, to, actor, data):
    CaseEvent.objects.create(
        case=case,
        kind=EventKind.STEP,
        at=clock.now(),
        actor=actor,
        from_value=current,
        to_value=to,
        text=data.get("note", ""),
    )


CASE = Workflow(
    "application",
    {
        S.DRAFT: {S.SUBMITTED, S.WITHDRAWN},
        S.SUBMITTED: {S.IN_PROGRESS, S.WAITING_CUSTOMER, S.REJECTED, S.WITHDRAWN},
        S.IN_PROGRESS: {S.WAITING_CUSTOMER, S.COMPLETED, S.REJECTED},
        S.WAITING_CUSTOMER: {S.IN_PROGRESS, S.SUBMITTED, S.REJECTED, S.WITHDRAWN},
        S.COMPLETED: set(),
        S.REJECTED: set(),
        S.WITHDRAWN: set(),
    },
    history=_status_history,
)


def case_steps(case: Case) -> Workflow:
    """The moves between the steps of ``case``, writing its history."""
    workflow = step_workflow(version=case.kind_version, customer_class=case.customer_class)
    return replace(workflow, history=_step_history)


# --- Notifying the customer ----------------------------------------------------------------------
def case_path(case: Case) -> str:
    return reverse("applications:detail", kwargs={"uuid": case.uuid})


def _notify_status(case: Case, event_key: str, note: str = "") -> None:
    """Tell the applicant the case's new status, in their language (after the commit)."""
    user = case.applicant
    if user is None:
        return
    with translation.override(language_for(user=user)):
        context = {
            "application": {
                "reference": case.reference,
                "title": str(case.kind_version.kind),
                "status": str(case.get_status_display()),
                "note": note,
                "url": case_path(case),
            }
        }
    notify(
        user=user,
        kind=NotificationKind.APPLICATION_STATUS,
        key=f"{case.uuid}:{event_key}",
        context=context,
    )


def _locked(case: Case) -> Case:
    """``case`` read again under a row lock (inside the caller's transaction)."""
    return Case.objects.select_related("kind_version__kind").select_for_update().get(pk=case.pk)


def _move(case: Case, to: str, *, actor, note: str = "", changes=None) -> None:
    """A status change of a locked case: history, audit record, and the customer's notice after
    the commit."""
    result = transition(
        case,
        CASE,
        to=to,
        actor=actor,
        changes=changes,
        data={"reason": note} if note else None,
        locked=True,
    )
    if result.changed:
        key = f"{to}:{result.event.seq}"
        transaction.on_commit(partial(_notify_status, case, key, note), robust=True)


# --- Clocks --------------------------------------------------------------------------------------
def _clock_open(case: Case, *, commitment: str, at: datetime, step: str = "") -> StepClock:
    """A running clock of ``commitment``'s rule for the case's class (none: no deadline)."""
    rule = (
        rule_for(commitment=commitment, customer_class=case.customer_class) if commitment else None
    )
    return StepClock.objects.create(
        case=case,
        step=step,
        whole_case=not step,
        commitment=commitment,
        rule_set=rule.rule_set.code if rule else "",
        amount=rule.amount if rule else None,
        unit=rule.unit if rule else "",
        started_at=at,
        due_at=deadline(rule=rule, start=at) if rule else None,
    )


def _clock_start(case: Case, step: str, *, at: datetime) -> StepClock:
    """Start the clock of ``step``: its commitment's rule for the case's class, if any."""
    kind_step = next(
        (
            s
            for s in steps_for(version=case.kind_version, customer_class=case.customer_class)
            if s.step == step
        ),
        None,
    )
    running = _clock_open(
        case, commitment=kind_step.commitment if kind_step else "", at=at, step=step
    )
    case.due_at = _due(case)
    return running


def _whole_start(case: Case, *, at: datetime) -> None:
    """The whole application's clock, when its kind promises one and the set has a rule."""
    commitment = case.kind_version.commitment
    if commitment and rule_for(commitment=commitment, customer_class=case.customer_class):
        _clock_open(case, commitment=commitment, at=at)
        case.due_at = _due(case)


def _running(case: Case):
    return StepClock.objects.filter(case=case, finished_at__isnull=True)


def _due(case: Case):
    """The nearest deadline of the case's running clocks (None while they stand still)."""
    dues = [c.due_at for c in _running(case) if c.due_at is not None and c.paused_at is None]
    return min(dues, default=None)


def _clock_finish(case: Case, *, at: datetime, whole: bool = False) -> None:
    """Finish the step's clock (and, ``whole``, the whole application's too)."""
    clocks = _running(case) if whole else _running(case).filter(whole_case=False)
    for running in clocks:
        if running.paused_at is not None:
            _clock_resume(running, at=at)
        running.finished_at = at
        if running.due_at is not None and at > running.due_at and running.missed_at is None:
            # Finished late before the watch saw it: recorded all the same.
            running.missed_at, running.missed_holder_id = at, case.assignee_id
            CaseEvent.objects.create(
                case=case, kind=EventKind.MISSED, at=at, to_value=running.step, internal=True
            )
        running.save(
            update_fields=[
                "finished_at",
                "due_at",
                "paused_at",
                "paused_seconds",
                "missed_at",
                "missed_holder",
            ]
        )
    case.due_at = None if whole else _due(case)


def _clock_pause(case: Case, *, at: datetime) -> None:
    """Every running clock of the case stands still while the customer is asked."""
    _running(case).filter(paused_at__isnull=True).update(paused_at=at)
    case.due_at = None


def lengthened(*, due: datetime, unit: str, paused_at: datetime, resumed_at: datetime) -> datetime:
    """``due`` moved on by the time the clock stood still, counted in the rule's own unit: the
    working days (or days) the customer took, or the exact time for hours and minutes."""
    if unit in (TimeUnit.HOURS, TimeUnit.MINUTES):
        return due + (resumed_at - paused_at)
    first, last = clock.business_date(paused_at), clock.business_date(resumed_at)
    due_day = clock.business_date(due - timedelta(microseconds=1))
    if unit == TimeUnit.CALENDAR_DAYS:
        return clock.day_end(due_day + (last - first))
    stood = business_calendar().working_days_between(first, last)
    return clock.day_end(add_working_days(due_day, stood))


def _clock_resume(running: StepClock, *, at: datetime) -> None:
    if running.paused_at is None:
        return
    if running.due_at is not None:
        running.due_at = lengthened(
            due=running.due_at, unit=running.unit, paused_at=running.paused_at, resumed_at=at
        )
    running.paused_seconds += int((at - running.paused_at).total_seconds())
    running.paused_at = None


# --- Opening a case ------------------------------------------------------------------------------
def _new_reference() -> str:
    return f"A{clock.today():%Y%m%d}{secrets.randbelow(10**6):06d}"


def case_create(
    *,
    version: KindVersion,
    customer_class: str,
    applicant: User | None,
    organisation=None,
    account=None,
    channel: str = CaseChannel.ONLINE,
    opened_by: User | None = None,
    details: dict | None = None,
) -> Case:
    """A new draft case of ``version``'s kind (the customer's wizard, or staff on the phone)."""
    # Read afresh: the caller's copy may predate staff closing the kind.
    if not ApplicationKind.objects.filter(pk=version.kind_id, active=True).exists():
        raise InvalidInput(_("This kind of application is not open at the moment."))
    fields = {
        "kind_version": version,
        "category": version.kind.category,
        "customer_class": customer_class,
        "applicant": applicant,
        "organisation": organisation,
        "account": account,
        "channel": channel,
        "opened_by": opened_by,
        **(details or {}),
    }
    for _try in range(5):
        try:
            with transaction.atomic():
                return Case.objects.create(reference=_new_reference(), **fields)
        except IntegrityError:
            continue
    raise RuntimeError("could not find a free case reference")


# --- Documents -----------------------------------------------------------------------------------
def documents_missing(case: Case) -> list[str]:
    """The required documents of the case's kind and class not uploaded yet (their labels)."""
    have = set(case.documents.values_list("document", flat=True))
    return [
        doc.get_document_display()
        for doc in documents_for(version=case.kind_version, customer_class=case.customer_class)
        if doc.required and doc.document not in have
    ]


def case_document_add(
    *, case: Case, document: str, upload, actor: User | None, answer: CaseEvent | None = None
) -> CaseDocument:
    """Check ``upload`` by its content and store it with the case under a random name. A refused
    file raises ``InvalidInput`` and nothing is stored."""
    if document not in DocumentType.values:
        raise InvalidInput(_("Choose which document this is."))
    if case.status not in (S.DRAFT, S.WAITING_CUSTOMER) and answer is None:
        raise NotAllowed(
            _("Documents can be added while the application is a draft, or when we ask for them.")
        )
    checked = document_check(upload)
    name = default_storage.save(
        storage_name(case_uuid=case.uuid, extension=checked.extension), upload
    )
    try:
        with transaction.atomic():
            return CaseDocument.objects.create(
                case=case,
                document=document,
                file=name,
                name=checked.name,
                content_type=checked.content_type,
                size=checked.size,
                sha256=checked.sha256,
                uploaded_by=actor,
                answer=answer,
            )
    except BaseException:
        default_storage.delete(name)
        raise


def case_document_remove(*, case: Case, document: CaseDocument, actor: User) -> None:
    """Take a document out of a draft (the file goes with it)."""
    if case.status != S.DRAFT or document.case_id != case.pk:
        raise NotAllowed(_("Only a draft's documents can be removed."))
    name = document.file.name
    document.delete()
    transaction.on_commit(lambda: default_storage.delete(name))


DETAIL_FIELDS = (
    "contact_name",
    "contact_phone",
    "address",
    "district",
    "capacity_kva",
    "loads",
    "description",
)


def case_details_save(*, case: Case, details: dict, actor: User) -> Case:
    """Save what the customer wrote in their draft (as often as they like)."""
    with transaction.atomic():
        case = _locked(case)
        if case.status != S.DRAFT:
            raise NotAllowed(_("Only a draft can be changed."))
        for name in DETAIL_FIELDS:
            if name in details:
                setattr(case, name, details[name] if details[name] is not None else None)
        case.save(update_fields=[*DETAIL_FIELDS, "updated_at"])
    return case


def case_submit(*, case: Case, actor: User | None) -> Case:
    """The customer (or staff for them) hands the case in: only with every required document
    (一次性告知: the list was shown, once and completely, before they started)."""
    with transaction.atomic():
        case = _locked(case)
        missing = documents_missing(case)
        if missing and case.status == S.DRAFT:
            raise InvalidInput(
                _("Upload these documents first: %(documents)s.")
                % {"documents": _("; ").join(missing)}
            )
        _move(case, S.SUBMITTED, actor=actor, changes={"submitted_at": clock.now()})
    return case


def case_withdraw(*, case: Case, actor: User, reason: str = "") -> Case:
    """The customer takes back a case that has not been accepted yet."""
    with transaction.atomic():
        case = _locked(case)
        if case.accepted_at is not None:
            raise NotAllowed(_("An accepted application cannot be withdrawn; contact us."))
        _move(case, S.WITHDRAWN, actor=actor, note=reason, changes={"closed_at": clock.now()})
    return case


def case_open_for_customer(
    *,
    version: KindVersion,
    customer_class: str,
    account,
    channel: str,
    staff: User,
    details: dict,
) -> Case:
    """A case a member of staff opens for a customer who phoned 95598 or came to the counter:
    handed in at once (staff saw the documents, or will collect them). The customer sees it in
    their list once they bind ``account``."""
    if channel == CaseChannel.ONLINE:
        raise InvalidInput(_("A case opened by staff came by the hotline or the counter."))
    case = case_create(
        version=version,
        customer_class=customer_class,
        applicant=None,
        account=account,
        channel=channel,
        opened_by=staff,
        details=details,
    )
    with transaction.atomic():
        case = _locked(case)
        _move(
            case,
            S.SUBMITTED,
            actor=staff,
            changes={"submitted_at": clock.now()},
        )
    return case


# --- Staff ---------------------------------------------------------------------------------------
def case_accept(*, case: Case, actor: User) -> Case:
    """Accept a submitted case: it goes to its first step, whose clock starts now."""
    now = clock.now()
    with transaction.atomic():
        case = _locked(case)
        steps = steps_for(version=case.kind_version, customer_class=case.customer_class)
        if not steps:
            raise InvalidInput(_("This kind of application has no steps."))
        if case.status == S.IN_PROGRESS:
            return case  # accepted already (a second click)
        if case.status != S.SUBMITTED:
            raise NotAllowed(_("Only a submitted application can be accepted."))
        _clock_start(case, steps[0].step, at=now)
        _whole_start(case, at=now)
        _move(
            case,
            S.IN_PROGRESS,
            actor=actor,
            changes={"step": steps[0].step, "accepted_at": now, "due_at": case.due_at},
        )
        CaseEvent.objects.create(
            case=case, kind=EventKind.STEP, at=now, actor=actor, to_value=steps[0].step
        )
    return case


def case_advance(*, case: Case, to: str, actor: User, note: str = "") -> Case:
    """Move an accepted case on to step ``to`` (only the move its kind allows). The last step
    completes the case."""
    now = clock.now()
    with transaction.atomic():
        case = _locked(case)
        if case.status != S.IN_PROGRESS:
            raise NotAllowed(_("Only an application in progress can move to another step."))
        workflow = case_steps(case)
        if case.step == to:
            return case
        if not workflow.allows(case.step, to):
            raise TransitionRefused(
                _("This application cannot move from %(current)s to %(to)s.")
                % {"current": Step(case.step).label, "to": Step(to).label if to in Step else to},
                current=case.step,
                to=to,
            )
        _clock_finish(case, at=now, whole=workflow.is_final(to))
        step_done_message(case, step=case.step, actor=actor)
        transition(case, workflow, to=to, actor=actor, data={"note": note}, locked=True)
        if workflow.is_final(to):
            _move(case, S.COMPLETED, actor=actor, changes={"closed_at": now, "due_at": None})
            survey_schedule(case)  # the satisfaction survey, after the commit
        else:
            _clock_start(case, to, at=now)
            Case.objects.filter(pk=case.pk).update(due_at=case.due_at)
    return case


def case_request_material(*, case: Case, actor: User, text: str) -> Case:
    """Ask the customer for something missing: the clock stops until they answer."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput(_("Say what the customer should provide."))
    now = clock.now()
    with transaction.atomic():
        case = _locked(case)
        _clock_pause(case, at=now)
        CaseEvent.objects.create(case=case, kind=EventKind.REQUEST, at=now, actor=actor, text=text)
        _move(case, S.WAITING_CUSTOMER, actor=actor, note=text, changes={"due_at": None})
    return case


def case_answer(*, case: Case, actor: User, text: str, document: str = "", upload=None) -> Case:
    """The customer answers a request, with a file if they like: the case goes back to where it
    was and its clock runs again, lengthened by the time it waited. A refused file refuses the
    whole answer (nothing changes)."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput(_("Write an answer."))
    now = clock.now()
    with transaction.atomic():
        case = _locked(case)
        if case.status != S.WAITING_CUSTOMER:
            raise NotAllowed(_("This application is not waiting for an answer."))
        for running in _running(case):
            _clock_resume(running, at=now)
            running.save(update_fields=["due_at", "paused_at", "paused_seconds"])
        back = S.IN_PROGRESS if case.accepted_at else S.SUBMITTED
        answer = CaseEvent.objects.create(
            case=case, kind=EventKind.ANSWER, at=now, actor=actor, text=text
        )
        if upload is not None:
            case_document_add(
                case=case, document=document, upload=upload, actor=actor, answer=answer
            )
        _move(case, back, actor=actor, changes={"due_at": _due(case)})
    return case


def case_reject(*, case: Case, actor: User, reason: str) -> Case:
    """Refuse the case, with the reason the customer reads."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(_("Give the reason for the rejection: the customer reads it."))
    now = clock.now()
    with transaction.atomic():
        case = _locked(case)
        _clock_finish(case, at=now, whole=True)
        _move(
            case, S.REJECTED, actor=actor, note=reason, changes={"closed_at": now, "due_at": None}
        )
    return case


def case_assign(*, case: Case, assignee: User | None, actor: User) -> Case:
    """Give the case to a member of staff (None: back to the pool)."""
    with transaction.atomic():
        case = _locked(case)
        if case.assignee_id == (assignee.pk if assignee else None):
            return case
        case.assignee = assignee
        case.save(update_fields=["assignee", "updated_at"])
        CaseEvent.objects.create(
            case=case,
            kind=EventKind.ASSIGNED,
            at=clock.now(),
            actor=actor,
            to_value=str(assignee.pk) if assignee else "",
            text=str(assignee) if assignee else "",
            internal=True,
        )
        audit_record(
            action="application.assigned",
            actor=actor,
            obj=case,
            data={"assignee": assignee.pk if assignee else None},
        )
    return case


def case_note(*, case: Case, actor: User, text: str) -> CaseEvent:
    """An internal note: staff read it, the customer never does."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput(_("Write the note."))
    return CaseEvent.objects.create(
        case=case, kind=EventKind.NOTE, at=clock.now(), actor=actor, text=text, internal=True
    )
