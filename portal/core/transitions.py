"""Status changes, one way for every status that matters (django-oscar's ``set_status``; STYLE.md).

A ``Workflow`` says, as data, which moves between statuses are allowed. ``transition`` is the only
code that changes such a status: inside the caller's transaction it locks the row, refuses a move
the workflow does not allow (``TransitionRefused``), saves the new status with the fields that go
with it, writes the history (the project's audit log, and the domain's own history rows where the
workflow keeps them) and schedules what must happen after the commit.

    ATTEMPT = Workflow("payment", {PENDING: {PROCESSING, SUCCEEDED, …}, SUCCEEDED: set(), …})
    transition(attempt, ATTEMPT, to=FAILED, changes={"failure_message": error}, data={...})

The audit record's action is ``<workflow name>.<new status>`` and its data holds ``from`` and
``to`` with the caller's own facts. Lock order: the row, then whatever the caller locks next,
then the audit chain's head (``audit_record`` is always a transaction's last lock).
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from django.db import models, transaction

from .audit import audit_record
from .errors import NotAllowed


class TransitionRefused(NotAllowed):
    """The workflow does not allow this move from the row's current status."""

    def __init__(self, message=None, *, current: str = "", to: str = ""):
        super().__init__(message)
        self.current, self.to = current, to


@dataclass(frozen=True)
class Workflow:
    name: str
    """The audit actions' prefix: ``payment`` → ``payment.failed``."""
    moves: Mapping[str, Iterable[str]]
    """Every status, with the statuses it may move to (a final status: none)."""
    status_field: str = "status"
    history: Callable | None = None
    """``history(obj, *, current, to, actor, data)``: writes the domain's own history row, in the
    same transaction (application cases keep one; payments have the audit log)."""
    statuses: frozenset = field(init=False)

    def __post_init__(self):
        targets = {to for moves in self.moves.values() for to in moves}
        unknown = targets - set(self.moves)
        if unknown:
            raise ValueError(f"{self.name}: moves to unknown statuses {sorted(unknown)}")
        object.__setattr__(self, "statuses", frozenset(self.moves))

    def allows(self, current: str, to: str) -> bool:
        return to in self.moves.get(current, ())

    def is_final(self, status: str) -> bool:
        return not self.moves.get(status)


@dataclass(frozen=True)
class Transition:
    obj: models.Model
    current: str
    """The status the row had when it was locked."""
    changed: bool
    """False: the row was already in the status asked for, and nothing was written."""
    event: object | None = None
    """The audit record written (``portal.models.AuditEvent``), when ``changed``."""


def transition(
    obj: models.Model,
    workflow: Workflow,
    *,
    to: str,
    changes: Mapping[str, object] | None = None,
    actor=None,
    actor_role: str | None = None,
    data: Mapping[str, object] | None = None,
    on_commit: Iterable[Callable[[], None]] = (),
    locked: bool = False,
) -> Transition:
    """Move ``obj`` to status ``to`` under ``workflow`` (docstring of the module).

    ``changes``: other fields set with the status (saved with it, and on ``obj``). The row's
    status is read under the lock, so a concurrent change is seen; a move to the status it
    already has changes nothing and is not an error (a webhook delivered twice). ``data`` goes
    into the audit record with ``from`` and ``to``; ``on_commit`` callbacks run after the commit
    (notifications, rendering), never if it rolls back. ``locked``: the caller already locked the
    row in this transaction and read ``obj`` under that lock (a webhook's fulfilment), so its
    status is current and the lock is not taken again.
    """
    if to not in workflow.statuses:
        raise ValueError(f"{workflow.name}: unknown status {to!r}")
    model = type(obj)
    if locked:
        # Judged before the writes, and so outside them: the caller can catch a refusal and
        # carry on with its transaction.
        current = getattr(obj, workflow.status_field)
        unchanged = _judge(obj, workflow, current=current, to=to)
        if unchanged is not None:
            return unchanged
    # A caller that holds the lock is inside its own transaction: no savepoint (two round trips,
    # taken while the caller's locks are held), and a failure of a write here rolls the caller
    # back.
    with transaction.atomic(savepoint=not locked):
        if not locked:
            current = (
                model._default_manager.select_for_update()
                .filter(pk=obj.pk)
                .values_list(workflow.status_field, flat=True)
                .get()
            )
            unchanged = _judge(obj, workflow, current=current, to=to)
            if unchanged is not None:
                return unchanged
        fields = {workflow.status_field: to, **(changes or {})}
        for name, value in fields.items():
            setattr(obj, name, value)
        update_fields = list(fields)
        if any(f.name == "updated_at" for f in model._meta.concrete_fields):
            update_fields.append("updated_at")
        obj.save(update_fields=update_fields)
        record = {"from": current, "to": to, **(data or {})}
        if workflow.history is not None:
            workflow.history(obj, current=current, to=to, actor=actor, data=record)
        event = audit_record(
            action=f"{workflow.name}.{to}",
            obj=obj,
            actor=actor,
            actor_role=actor_role,
            data=record,
        )
        for callback in on_commit:
            transaction.on_commit(callback)
    return Transition(obj, current, changed=True, event=event)


def _judge(obj, workflow: Workflow, *, current: str, to: str) -> Transition | None:
    """The unchanged ``Transition`` when ``obj`` is in status ``to`` already, None when the move
    is allowed, ``TransitionRefused`` when it is not."""
    if current == to:
        setattr(obj, workflow.status_field, current)
        return Transition(obj, current, changed=False)
    if not workflow.allows(current, to):
        raise TransitionRefused(
            f"{workflow.name}: {current} → {to} is not allowed", current=current, to=to
        )
    return None
