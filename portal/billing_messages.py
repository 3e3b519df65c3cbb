"""Messages to the billing system (CIS) from apps other than payments.

The billing export (its table, its cursor, ``GET /api/v1/export`` and ``manage.py
export_payments``) is the payments app's (``payments/export.py``). Another app that has something
to tell the billing system (applications: a new connection energised, a change of holder, a
suspension, a closing) calls ``billing_message_send`` inside the transaction that makes the change;
the payments app's writer (``billing_message_writer``, registered in ``payments/hooks.py``) puts
the message into the same export, with the sequence number of the audit record written here, so
the message commits with the change or not at all and is delivered once, in commit order
(docs/integration.md, "Messages out").
"""

from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from .core.audit import audit_record
from .core.registry import Registry


class BillingMessageKind(models.TextChoices):
    """What an application tells the billing system once a step of it is done."""

    CONNECTION = "connection", _("New connection energised")
    CAPACITY_CHANGE = "capacity_change", _("Capacity changed")
    TRANSFER = "transfer", _("Change of name or ownership")
    SUSPENSION = "suspension", _("Temporary suspension")
    CLOSING = "closing", _("Account closed")


# Writes a message into the billing export: ``provider(*, kind, payload, seq) -> None``, one.
billing_message_writer = Registry("billing message writer")


def billing_message_send(*, kind: str, payload: dict, actor=None, obj=None) -> None:
    """Queue ``payload`` (JSON-serialisable) for the billing system as a ``kind`` message, in the
    caller's transaction, with an audit record ``billing_message.<kind>``."""
    if kind not in BillingMessageKind.values:
        raise ValueError(f"unknown billing message kind {kind!r}")
    writers = list(billing_message_writer)
    if len(writers) != 1:
        raise RuntimeError(f"{billing_message_writer!r}: exactly one writer must be registered")
    with transaction.atomic():
        event = audit_record(action=f"billing_message.{kind}", actor=actor, obj=obj, data=payload)
        writers[0](kind=kind, payload=payload, seq=event.seq)
