"""Reconciliation: our payment attempts against what the gateway says, repaired through the same
fulfilment code as the webhook (docs/payments.md, "Reconciliation").

One run (``manage.py reconcile_payments``, on a schedule) covers the attempts created since a
date and, in order:

1. handles again the stored webhook events of the period that found no attempt (``unmatched``)
   or failed, exactly as the webhook would (``webhooks.webhook_handle``);
2. asks the gateway about every attempt of the period that has a gateway payment and has not
   succeeded, and hands its answer to ``fulfilment.intent_apply``: a payment the gateway took
   and we did not credit (a lost webhook, a crash between the gateway's success and our write)
   is credited in this run, once;
3. lists the provider's payments of the period (Stripe): money taken for an attempt we do not
   know, or a second payment for an attempt that has its own, needs a person; one taken for an
   attempt of ours that is not credited is credited (an attempt older than the period, or one
   whose payment id was never stored because we crashed before writing it);
4. compares every succeeded attempt of the period with the gateway's amount, currency and
   status; a difference needs a person (nothing is changed automatically);
5. expires the attempts still unpaid past the end of their day (``checkout.attempt_cancel_stale``
   cancels the gateway payment, or credits it if the money did come in: never lose money);
6. sends again the refunds left pending (no answer from the provider) for more than
   ``REFUND_GRACE``, with their stored idempotency keys (``refunds.refund_retry``);
7. lists the attempts flagged for staff (``needs_review``) in the period.

The report says what was repaired, what expired, what needs a person and how much was checked.
A run that changed something writes one ``payments.reconciled`` audit record with its counts;
each payment credited or flagged has its own audit record from fulfilment as well.

One bad row never stops the run (``portal.core.jobs``): each event, attempt, provider payment
and refund is worked on alone; one that raises is logged, kept for a person under Job problems
(job ``reconcile_payments``, its step and row), counted as skipped, and the step goes on. Rows are
worked on with ``atomic=False``: the services they call commit their own transactions and ask
the gateway between them, and no transaction may be held across that wait. A step that needs
the gateway stops when the gateway does not answer (``GatewayUnavailable``): asking about the
next payment would only wait as long again; the report says which step could not be done, the
next run does it. Steps that need no gateway (stored events, the flagged list) still run.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import batched
from uuid import UUID

from django.utils.translation import gettext as _

from portal.core import clock
from portal.core.audit import audit_record
from portal.core.jobs import CannotGoOn, JobRun
from portal.core.money import fen_to_yuan, yuan_to_fen

from . import checkout, gateways
from .fulfilment import intent_apply
from .gateways import IntentState
from .gateways.errors import GatewayError, GatewayUnavailable
from .models import (
    AttemptStatus,
    PaymentAttempt,
    Refund,
    RefundStatus,
    WebhookEvent,
    WebhookStatus,
)
from .refunds import refund_retry
from .webhooks import event_intent, webhook_handle

DEFAULT_DAYS = 3
"""Stripe retries a webhook for up to three days: a run covering three days before today finds
every payment whose events are still in flight or were given up."""
SOURCE = "reconcile"
JOB = "reconcile_payments"
_CHUNK = 500

# What "checked" counts, in the order the report prints them.
CHECKS = ("events", "open", "provider", "succeeded", "refunds")
REFUND_GRACE = timedelta(minutes=5)
"""A refund younger than this may still be waiting for the provider's answer in a request."""


@dataclass
class Report:
    """What one run did. ``repaired``, ``expired`` and ``needs_person`` map a subject (an
    attempt's reference, a provider payment id) to one line saying what happened to it."""

    since: date
    repaired: dict[str, str] = field(default_factory=dict)
    expired: dict[str, str] = field(default_factory=dict)
    needs_person: dict[str, str] = field(default_factory=dict)
    checked: Counter = field(default_factory=Counter)
    run: JobRun = field(default_factory=lambda: JobRun(JOB))
    """The rows skipped (an error, kept under Job problems) and the steps not done."""

    @property
    def changed(self) -> bool:
        return bool(self.repaired or self.expired)

    @property
    def nothing_to_fix(self) -> bool:
        return not (self.repaired or self.needs_person)

    def need(self, subject: str, line: str) -> None:
        """Something a person must look at (the first line said about a subject is kept)."""
        self.needs_person.setdefault(subject, line)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "repaired": len(self.repaired),
            "expired": len(self.expired),
            "needs_person": len(self.needs_person),
            "skipped": len(self.run.skipped),
            "not_run": len(self.run.not_run),
            **{f"checked_{name}": self.checked[name] for name in CHECKS},
        }

    def audit_data(self) -> dict:
        return {
            "since": self.since,
            "counts": self.counts,
            "repaired": sorted(self.repaired)[:200],
        }

    def checked_line(self) -> str:
        return _(
            "%(events)s stored events handled again, %(open)s unsettled payments asked at the "
            "gateway, %(provider)s payments listed at Stripe, %(succeeded)s succeeded payments "
            "compared, %(refunds)s pending refunds sent again."
        ) % {name: self.checked[name] for name in CHECKS}


def reconcile_payments(*, since: date | None = None) -> Report:
    """Reconcile the attempts created on or after ``since`` (an Asia/Shanghai date; default:
    ``DEFAULT_DAYS`` before today) with the gateway, repairing what it can (module docstring).
    Runs outside any transaction: every repair is its own, as from the webhook."""
    if since is None:
        since = clock.today() - timedelta(days=DEFAULT_DAYS)
    start = clock.day_start(since)
    report = Report(since=since)
    run = report.run
    provider = None
    with run.step("events", _("handling stored events again")):
        _events_again(start, report)
    with run.step("open", _("asking the gateway about unsettled payments")):
        _open_attempts(start, report)
    with run.step("provider", _("listing the payments at Stripe")):
        provider = _provider_payments(start, report)
    with run.step("succeeded", _("comparing succeeded payments with the gateway")):
        _succeeded_attempts(start, report, provider)
    with run.step("expire", _("expiring unpaid payments")):
        _expire(report)
    with run.step("refunds", _("sending pending refunds again")):
        _pending_refunds(report)
    _flagged(start, report)
    if report.changed:
        audit_record(action="payments.reconciled", data=report.audit_data())
    return report


# --- The steps ------------------------------------------------------------------------------------


def _events_again(start: datetime, report: Report) -> None:
    """Stored events that found no attempt, or failed: handle them again."""
    rows = list(
        WebhookEvent.objects.filter(
            status__in=(WebhookStatus.UNMATCHED, WebhookStatus.FAILED), received_at__gte=start
        ).order_by("received_at", "pk")
    )
    for row in rows:
        report.checked["events"] += 1
        with report.run.row(row, atomic=False):
            _event_again(row, report)


def _event_again(row: WebhookEvent, report: Report) -> None:
    # Only a look ahead, to know the attempt's status before the event is handled again:
    # whether the event can be used is webhook_handle's to judge (it records why).
    state = event_intent(row)
    attempt = _attempt_for(state.attempt_uuid) if state else None
    before = attempt.status if attempt else None
    answer = webhook_handle(row)
    row.refresh_from_db()
    if row.status == WebhookStatus.FAILED:
        report.need(
            row.event_id,
            _("Event %(event)s (%(type)s) failed again (HTTP %(status)s); see its error.")
            % {"event": row.event_id, "type": row.type, "status": answer.status},
        )
    elif row.status == WebhookStatus.UNMATCHED:
        if state is not None and state.status == gateways.SUCCEEDED:
            _unknown_payment(state, report)
    elif row.attempt is not None and row.attempt.status != before:
        _repaired(row.attempt, before, report, how=_("event %s handled") % row.event_id)


def _open_attempts(start: datetime, report: Report) -> None:
    """Attempts of the period with a gateway payment that have not succeeded: ask the gateway."""
    attempts = list(
        PaymentAttempt.objects.filter(created_at__gte=start, intent_id__isnull=False)
        .exclude(status=AttemptStatus.SUCCEEDED)
        .order_by("created_at", "pk")
    )
    for attempt in attempts:
        report.checked["open"] += 1
        with report.run.row(attempt, atomic=False):
            _open_attempt(attempt, report)


def _open_attempt(attempt: PaymentAttempt, report: Report) -> None:
    state = _ask(attempt, report)
    if state is None:
        return
    if state.attempt_uuid != str(attempt.uuid):
        report.need(
            attempt.reference,
            _("%(reference)s: the gateway's payment %(intent)s names attempt %(other)s.")
            % {
                "reference": attempt.reference,
                "intent": state.id,
                "other": state.attempt_uuid or "-",
            },
        )
        return
    _apply(attempt, state, report)


def _provider_payments(start: datetime, report: Report) -> dict[str, IntentState] | None:
    """The provider's payments of the period, by id (Stripe only: the local gateway's are made
    from our attempts). Money taken that no attempt of ours accounts for needs a person."""
    try:
        states = gateways.intents_since(start)
    except GatewayUnavailable as error:
        raise CannotGoOn(_("the gateway did not answer: %(error)s") % _err(error)) from error
    except GatewayError as error:
        report.need("stripe", _("Could not list the payments at Stripe: %(error)s") % _err(error))
        return None
    if states is None:
        return None
    report.checked["provider"] += len(states)
    taken = [state for state in states if state.status == gateways.SUCCEEDED]
    for chunk in batched(taken, _CHUNK):
        uuids = [value for state in chunk if (value := _uuid(state.attempt_uuid))]
        known = {
            str(attempt.uuid): attempt for attempt in PaymentAttempt.objects.filter(uuid__in=uuids)
        }
        for state in chunk:
            with report.run.row(f"stripe:{state.id}", atomic=False):
                _provider_payment(state, known.get(state.attempt_uuid), report)
    return {state.id: state for state in states}


def _provider_payment(state: IntentState, attempt: PaymentAttempt | None, report: Report):
    if attempt is None:
        _unknown_payment(state, report)
    elif attempt.intent_id and attempt.intent_id != state.id:
        report.need(
            state.id,
            _(
                "%(intent)s: %(amount)s %(currency)s taken for %(reference)s, whose "
                "payment is %(own)s: a second payment for one attempt."
            )
            % {
                "intent": state.id,
                "amount": fen_to_yuan(state.amount),
                "currency": state.currency.upper(),
                "reference": attempt.reference,
                "own": attempt.intent_id or "-",
            },
        )
    elif attempt.status != AttemptStatus.SUCCEEDED:
        # Its own payment (or one whose id we never stored: a crash between Stripe's answer
        # and our write), not credited: an attempt older than the period, or one step 2 could
        # not ask about.
        _apply(attempt, state, report)


def _succeeded_attempts(start: datetime, report: Report, provider) -> None:
    """Succeeded attempts of the period: does the gateway agree on what was paid?"""
    attempts = list(
        PaymentAttempt.objects.filter(
            created_at__gte=start, status=AttemptStatus.SUCCEEDED
        ).order_by("created_at", "pk")
    )
    for attempt in attempts:
        report.checked["succeeded"] += 1
        with report.run.row(attempt, atomic=False):
            _succeeded_attempt(attempt, report, provider)


def _succeeded_attempt(attempt: PaymentAttempt, report: Report, provider) -> None:
    if provider is not None and attempt.intent_id in provider:
        state = provider[attempt.intent_id]
    else:
        state = _ask(attempt, report)
        if state is None:
            return
    if (state.status, state.amount, state.currency) != (
        gateways.SUCCEEDED,
        yuan_to_fen(attempt.amount),
        attempt.currency,
    ):
        report.need(
            attempt.reference,
            _(
                "%(reference)s: credited %(amount)s %(currency)s, but the gateway says "
                "%(their_amount)s %(their_currency)s, %(status)s (%(intent)s)."
            )
            % {
                "reference": attempt.reference,
                "amount": attempt.amount,
                "currency": attempt.currency.upper(),
                "their_amount": fen_to_yuan(state.amount),
                "their_currency": state.currency.upper(),
                "status": state.status,
                "intent": state.id,
            },
        )


def _expire(report: Report) -> None:
    """Attempts still unpaid after the end of their day: cancel their gateway payment and expire
    them, or credit them if the money came in after all. Flagged attempts wait for a person."""
    attempts = list(
        PaymentAttempt.objects.filter(
            status__in=(AttemptStatus.PENDING, AttemptStatus.FAILED),
            expires_at__lte=clock.now(),
            needs_review="",
        ).order_by("expires_at", "pk")
    )
    for attempt in attempts:
        with report.run.row(attempt, atomic=False):
            _expire_one(attempt, report)


def _expire_one(attempt: PaymentAttempt, report: Report) -> None:
    before = attempt.status
    try:
        checkout.attempt_cancel_stale(attempt=attempt)
    except GatewayUnavailable as error:
        raise CannotGoOn(_("the gateway did not answer: %(error)s") % _err(error)) from error
    except GatewayError as error:
        report.need(
            attempt.reference,
            _("%(reference)s: could not cancel its payment at the gateway: %(error)s")
            % {"reference": attempt.reference, **_err(error)},
        )
        return
    attempt.refresh_from_db()
    if attempt.status == AttemptStatus.EXPIRED:
        line = (
            _(
                "%(reference)s: %(amount)s %(currency)s priced on %(date)s, not paid by the "
                "end of that day: expired, its payment %(intent)s cancelled at the gateway."
            )
            if attempt.intent_id
            else _(
                "%(reference)s: %(amount)s %(currency)s priced on %(date)s, not paid by the "
                "end of that day: expired (no payment had been started)."
            )
        )
        report.expired[attempt.reference] = line % {
            "reference": attempt.reference,
            "amount": attempt.amount,
            "currency": attempt.currency.upper(),
            "date": attempt.business_date.isoformat(),
            "intent": attempt.intent_id,
        }
    elif attempt.status != before:
        _repaired(attempt, before, report, how=_("expiry"))


def _pending_refunds(report: Report) -> None:
    """Refunds whose provider answer never arrived: ask again with the same key, so a refund
    the provider made is recorded and one it did not make is made, never twice."""
    pending = Refund.objects.filter(
        status=RefundStatus.PENDING, created_at__lt=clock.now() - REFUND_GRACE
    ).select_related("attempt")
    for refund in pending.order_by("created_at", "pk"):
        report.checked["refunds"] += 1
        with report.run.row(refund, atomic=False):
            _refund_again(refund, report)


def _refund_again(refund: Refund, report: Report) -> None:
    refund = refund_retry(refund=refund)
    subject = f"{refund.attempt.reference} refund {refund.uuid}"
    values = {
        "reference": refund.attempt.reference,
        "amount": refund.amount,
        "status": refund.get_status_display(),
    }
    if refund.status == RefundStatus.PENDING:
        report.need(
            subject,
            _("%(reference)s: refund of %(amount)s still has no answer from the provider.")
            % values,
        )
    else:
        report.repaired[subject] = (
            _("%(reference)s: pending refund of %(amount)s settled: %(status)s.") % values
        )


def _flagged(start: datetime, report: Report) -> None:
    """Attempts flagged for staff (an amount or currency that did not match …) in the period."""
    flagged = PaymentAttempt.objects.exclude(needs_review="").filter(updated_at__gte=start)
    for attempt in flagged.order_by("created_at", "pk"):
        report.need(
            attempt.reference,
            _("%(reference)s (%(amount)s %(currency)s, %(status)s): %(reason)s")
            % {
                "reference": attempt.reference,
                "amount": attempt.amount,
                "currency": attempt.currency.upper(),
                "status": attempt.get_status_display(),
                "reason": attempt.needs_review,
            },
        )


# --- Helpers --------------------------------------------------------------------------------------


def _ask(attempt: PaymentAttempt, report: Report) -> IntentState | None:
    """The gateway's word on the attempt's payment; None (and a line for a person) if it has
    none or refused to answer. ``CannotGoOn`` if it did not answer: the step stops (module
    docstring). The next run asks again."""
    try:
        state = gateways.intent_retrieve(attempt)
    except GatewayUnavailable as error:
        raise CannotGoOn(_("the gateway did not answer: %(error)s") % _err(error)) from error
    except GatewayError as error:
        report.need(
            attempt.reference,
            _("%(reference)s: could not ask the gateway about %(intent)s: %(error)s")
            % {"reference": attempt.reference, "intent": attempt.intent_id, **_err(error)},
        )
        return None
    if state is None:
        report.need(
            attempt.reference,
            _("%(reference)s: the gateway has no payment %(intent)s.")
            % {"reference": attempt.reference, "intent": attempt.intent_id},
        )
    return state


def _apply(attempt: PaymentAttempt, state: IntentState, report: Report) -> None:
    """Hand the gateway's word to fulfilment, as the webhook does, and report what changed. A
    mismatch it flags is listed by ``_flagged``."""
    before = attempt.status
    outcome = intent_apply(state=state, source=SOURCE)
    if outcome.changed and outcome.status != WebhookStatus.FLAGGED:
        _repaired(outcome.attempt, before, report, how=_("asked the gateway"))


def _repaired(attempt: PaymentAttempt, before: str, report: Report, *, how: str) -> None:
    attempt.refresh_from_db()
    values = {
        "reference": attempt.reference,
        "amount": attempt.amount,
        "currency": attempt.currency.upper(),
        "before": AttemptStatus(before).label if before else "-",
        "after": attempt.get_status_display(),
        "intent": attempt.intent_id or "-",
        "how": how,
    }
    if attempt.status == AttemptStatus.SUCCEEDED:
        line = _(
            "%(reference)s: %(amount)s %(currency)s taken by the gateway (%(intent)s) but not "
            "credited: credited now (%(how)s; was %(before)s)."
        )
    else:
        line = _("%(reference)s: %(before)s → %(after)s, as the gateway says (%(how)s).")
    report.repaired[attempt.reference] = line % values


def _unknown_payment(state: IntentState, report: Report) -> None:
    report.need(
        state.id,
        _(
            "%(intent)s: %(amount)s %(currency)s taken, but no payment attempt of ours matches "
            "it (attempt %(attempt)s)."
        )
        % {
            "intent": state.id,
            "amount": fen_to_yuan(state.amount),
            "currency": state.currency.upper(),
            "attempt": state.attempt_uuid or "-",
        },
    )


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


def _attempt_for(attempt_uuid: str) -> PaymentAttempt | None:
    value = _uuid(attempt_uuid)
    return PaymentAttempt.objects.filter(uuid=value).first() if value else None


def _err(error: GatewayError) -> dict[str, str]:
    return {"error": str(error.message)[:200]}
