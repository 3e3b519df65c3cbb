from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class AuditLogIsAppendOnly(Exception):
    """Raised when code tries to change or delete audit events through the ORM."""


class AuditEventQuerySet(models.QuerySet):
    # Belt and braces with the database triggers: refuse bulk changes before they reach SQL, with
    # a clearer message than the trigger's.
    def update(self, **kwargs):
        raise AuditLogIsAppendOnly("Audit events cannot be changed.")

    def delete(self):
        raise AuditLogIsAppendOnly("Audit events cannot be deleted.")


class AuditEvent(models.Model):
    """One row of the project-wide audit log: append-only and hash-chained.

    Each row carries an HMAC (keyed with settings.AUDIT_KEY) over its own fields and the MAC of
    the row before it, so an edited, deleted or inserted row breaks the chain and
    ``manage.py audit_verify`` names it. Database triggers refuse UPDATE, DELETE and TRUNCATE
    (migration 0002); the chain is what detects someone who removed them. Rows are written only by
    ``portal.core.audit.audit_record``. See docs/audit.md.

    The actor is a plain number, not a foreign key: a row must never need editing when a user is
    closed or removed, and it holds no names or contact data.
    """

    seq = models.PositiveBigIntegerField(_("sequence number"), primary_key=True)
    occurred_at = models.DateTimeField(_("time"))
    actor_id = models.PositiveBigIntegerField(_("actor (user id)"), null=True, blank=True)
    actor_role = models.CharField(_("actor role"), max_length=32)
    action = models.CharField(_("action"), max_length=64)
    object_ref = models.CharField(_("object"), max_length=200, blank=True)
    # Text, not GenericIPAddressField: PostgreSQL's inet type rewrites addresses (IPv6
    # compression), and the MAC covers the exact text that was recorded.
    ip = models.CharField(_("IP address"), max_length=64, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    # Canonical JSON text, not a JSONField: jsonb reorders keys and rewrites numbers, and the MAC
    # must cover exactly the bytes that are stored. PostgreSQL can still query it as data::jsonb.
    data = models.TextField(_("data (JSON)"), default="{}")
    key_id = models.CharField(_("key id"), max_length=16)
    prev_mac = models.CharField(_("previous MAC"), max_length=64)
    mac = models.CharField(_("MAC"), max_length=64)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-seq"]
        # Only "view": the log is read-only everywhere, so there is no add, change or delete
        # permission that could be granted by mistake.
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["actor_id", "seq"], name="auditevent_actor_seq"),
            models.Index(fields=["action", "seq"], name="auditevent_action_seq"),
            models.Index(fields=["occurred_at"], name="auditevent_occurred_at"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(seq__gte=1), name="auditevent_seq_from_one"),
        ]

    def __str__(self):
        return f"#{self.seq} {self.action}"

    def save(self, *args, **kwargs):
        # An accidental ``event.save()`` on a loaded row would be an UPDATE; refuse it here with a
        # clear message rather than at the trigger.
        if not self._state.adding:
            raise AuditLogIsAppendOnly("An audit event cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogIsAppendOnly("An audit event cannot be deleted.")


class AuditChainHead(models.Model):
    """The single row that every append locks and moves forward (seq and MAC of the last event).

    Locking it (SELECT ... FOR UPDATE) serialises appends so the chain never forks. It is a cache
    of the last event, not a source of trust: anyone who can write to the database can change it.
    What an auditor trusts is a head published elsewhere (``manage.py audit_publish_head``).
    """

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID)
    seq = models.PositiveBigIntegerField(default=0)
    mac = models.CharField(max_length=64)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("audit chain head")
        verbose_name_plural = _("audit chain head")
        default_permissions = ()
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="auditchainhead_single_row"),
        ]

    def __str__(self):
        return f"{self.seq}:{self.mac}"


class CalendarDay(models.Model):
    """A day whose working status an operator sets, over what the published calendar says: the
    next year's holidays and adjusted working weekends (调休) before the calendar library knows
    them (the State Council announces them late in the year before), or a local holiday.
    ``portal.core.calendar`` reads them; docs/time.md."""

    day = models.DateField(_("day"), unique=True)
    working = models.BooleanField(
        _("working day"),
        help_text=_("Ticked: a working day (an adjusted working Saturday). Unticked: a day off."),
    )
    note = models.CharField(_("note"), max_length=100, blank=True)
    updated_at = models.DateTimeField(_("last changed"), auto_now=True)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ["day"]

    def __str__(self):
        return f"{self.day.isoformat()} {'working' if self.working else 'off'}"


class JobProblem(models.Model):
    """A row a scheduled job could not process: skipped, and kept here for a person
    (``portal.core.jobs``; docs/operations.md). One row per job, step and row however often it
    fails: ``count`` says how many runs met it, ``last_seen`` when the last did, ``error`` and
    ``traceback`` what went wrong then. Written only by ``portal.core.jobs.job_problem_record``,
    read-only in the back office."""

    job = models.CharField(_("job"), max_length=64)
    step = models.CharField(_("step"), max_length=64, blank=True)
    row = models.CharField(
        _("row"),
        max_length=200,
        help_text=_('What the job was working on: "model:id", or a short description.'),
    )
    error = models.CharField(_("error"), max_length=500)
    traceback = models.TextField(_("traceback"), blank=True)
    count = models.PositiveIntegerField(_("times seen"), default=1)
    first_seen = models.DateTimeField(_("first seen"))
    last_seen = models.DateTimeField(_("last seen"))

    class Meta:
        verbose_name = _("job problem")
        verbose_name_plural = _("job problems")
        ordering = ["-last_seen", "-pk"]
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(fields=["job", "step", "row"], name="jobproblem_one_per_row"),
        ]
        indexes = [models.Index(fields=["last_seen"], name="jobproblem_last_seen")]

    def __str__(self):
        return f"{self.job} {self.step} {self.row}".replace("  ", " ")
