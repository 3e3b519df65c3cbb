"""Service commitments (供电服务承诺) as data: a company publishes a set of time limits and revises
it every few years, so each set is rows with a company and an effective date, never constants in
code (DOMAIN.md, docs/applications.md). The clocks of application cases count against these rows,
and the CMS's commitments page will render the same rows.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from modelcluster.fields import ParentalKey
from modelcluster.models import ClusterableModel

from portal.billing_messages import BillingMessageKind
from portal.models import CustomerClass


class Commitment(models.TextChoices):
    """What is promised. One rule per commitment and customer class in a set (or one for all)."""

    SUPPLY_PLAN_REPLY = "supply_plan_reply", _("Supply plan reply")
    ENERGISING = "energising", _("Meter installed and energised after the inspection is passed")
    NEW_CONNECTION = "new_connection", _("Whole new connection (the company's own stages)")
    DESIGN_REVIEW = "design_review", _("Design review")
    MID_INSPECTION = "mid_inspection", _("Mid-construction inspection")
    COMPLETION_INSPECTION = "completion_inspection", _("Completion inspection")
    PLANNED_OUTAGE_NOTICE = "planned_outage_notice", _("Planned outage announced ahead")
    TEMPORARY_MAINTENANCE_NOTICE = (
        "temporary_maintenance_notice",
        _("Temporary maintenance announced to important customers ahead"),
    )
    DISCONNECTION_NOTICE = "disconnection_notice", _("Written notice before disconnection")
    RECONNECTION = "reconnection", _("Supply restored after arrears are paid")
    METER_TEST = "meter_test", _("Meter accuracy test result")
    DISPUTED_READING = "disputed_reading", _("Disputed meter reading answered")
    COMPLAINT_CONTACT = "complaint_contact", _("Complaint: first contact")
    COMPLAINT_ANSWER = "complaint_answer", _("Complaint answered")
    FAULT_ARRIVAL_URBAN = "fault_arrival_urban", _("Fault repair arrival, urban")
    FAULT_ARRIVAL_RURAL = "fault_arrival_rural", _("Fault repair arrival, rural")
    FAULT_ARRIVAL_REMOTE = "fault_arrival_remote", _("Fault repair arrival, remote areas")
    FAULT_RESTORATION_URBAN = "fault_restoration_urban", _("Supply restored after a fault, urban")
    FAULT_RESTORATION_RURAL = "fault_restoration_rural", _("Supply restored after a fault, rural")


class TimeUnit(models.TextChoices):
    WORKING_DAYS = "working_days", pgettext_lazy("time unit", "working days")
    """Counted on the working-day calendar (portal.core.calendar); the start day never counts."""
    CALENDAR_DAYS = "calendar_days", pgettext_lazy("time unit", "days")
    HOURS = "hours", pgettext_lazy("time unit", "hours")
    MINUTES = "minutes", pgettext_lazy("time unit", "minutes")


class CommitmentRuleSet(ClusterableModel):
    """One published set of commitments: a company's, in force from a date. Which set the portal
    keeps is a setting (``COMMITMENT_RULE_SET``, docs/applications.md)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    company = models.CharField(_("company"), max_length=100)
    name = models.CharField(_("name"), max_length=200)
    effective_from = models.DateField(_("in force from"))
    source = models.CharField(
        _("source"), max_length=300, blank=True, help_text=_("Where the figures were published.")
    )

    class Meta:
        verbose_name = _("commitment set")
        verbose_name_plural = _("commitment sets")
        ordering = ["company", "effective_from"]

    def __str__(self):
        return self.name


class CommitmentRule(models.Model):
    """One time limit of a set: ``amount`` ``unit``s, for one customer class or (blank) for all."""

    rule_set = ParentalKey(
        CommitmentRuleSet, on_delete=models.CASCADE, related_name="rules", verbose_name=_("set")
    )
    commitment = models.CharField(_("commitment"), max_length=40, choices=Commitment.choices)
    customer_class = models.CharField(
        _("customer class"),
        max_length=20,
        choices=CustomerClass.choices,
        blank=True,
        help_text=_("Blank: every class."),
    )
    amount = models.PositiveIntegerField(_("time limit"))
    unit = models.CharField(_("unit"), max_length=20, choices=TimeUnit.choices)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("commitment")
        verbose_name_plural = _("commitments")
        ordering = ["rule_set", "commitment", "customer_class"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule_set", "commitment", "customer_class"],
                name="commitmentrule_one_per_class",
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="commitmentrule_amount_positive"
            ),
        ]

    def __str__(self):
        return f"{self.get_commitment_display()}: {self.amount} {self.get_unit_display()}"


# --- Kinds of application, their steps and documents ----------------------------------------------
# The vocabulary is code (so every label is translated); which kind has which steps, documents and
# commitments, for which customer class, is data, versioned, and edited by staff.
class Category(models.TextChoices):
    """A kind of business a customer applies for (业务办理)."""

    NEW_CONNECTION = "new_connection", _("New connection")
    CAPACITY_INCREASE = "capacity_increase", _("Capacity increase")
    CAPACITY_DECREASE = "capacity_decrease", _("Capacity decrease")
    TRANSFER = "transfer", _("Change of name or ownership")
    SUSPENSION = "suspension", _("Temporary suspension")
    CLOSING = "closing", _("Account closing")
    METER_TEST = "meter_test", _("Meter accuracy test")
    DISPUTED_READING = "disputed_reading", _("Disputed meter reading")
    COMPLAINT = "complaint", _("Complaint")
    FAULT_REPORT = "fault_report", _("Fault report")


class Step(models.TextChoices):
    """A step of an application (DOMAIN.md: new connection and other applications)."""

    ACCEPTED = "accepted", _("Accepted")
    SITE_SURVEY = "site_survey", _("Site survey")
    SUPPLY_PLAN_REPLY = "supply_plan_reply", _("Supply plan reply")
    DESIGN_REVIEW = "design_review", _("Design review")
    MID_INSPECTION = "mid_inspection", _("Mid-construction inspection")
    COMPLETION_INSPECTION = "completion_inspection", _("Completion inspection")
    CONTRACT_SIGNED = "contract_signed", _("Supply contract signed")
    ENERGISED = "energised", _("Meter installed and energised")
    HANDLING = "handling", _("Being handled")
    TESTING = "testing", _("Meter being tested")
    ANSWERED = "answered", _("Answered")
    REPAIR = "repair", _("Repair crew on the way")
    RESTORED = "restored", _("Supply restored")
    ARCHIVED = "archived", _("Archived")


class DocumentType(models.TextChoices):
    """What an application may need the customer to upload (一次性告知)."""

    IDENTITY = "identity", _("Identity document of the applicant")
    PROPERTY_PROOF = "property_proof", _("Proof of ownership or use of the premises")
    BUSINESS_LICENCE = "business_licence", _("Business licence")
    LOAD_LIST = "load_list", _("List of the electrical loads")
    AUTHORISATION = "authorisation", _("Letter of authorisation (when someone applies for you)")
    SITE_PLAN = "site_plan", _("Site plan of the premises")
    NEW_HOLDER_IDENTITY = "new_holder_identity", _("Identity document of the new holder")
    SETTLEMENT_PROOF = "settlement_proof", _("Proof that the bills are settled")


class ApplicationKind(models.Model):
    """A kind of application customers may make; its steps and documents are in its versions."""

    category = models.CharField(_("kind"), max_length=30, choices=Category.choices, unique=True)
    active = models.BooleanField(_("open to applications"), default=True)

    class Meta:
        verbose_name = _("kind of application")
        verbose_name_plural = _("kinds of application")
        ordering = ["category"]

    def __str__(self):
        return self.get_category_display()


class KindVersion(ClusterableModel):
    """The steps and documents of a kind from one version on. A version that cases were opened
    with is never changed in place: staff add the next version, and open cases keep theirs."""

    kind = models.ForeignKey(
        ApplicationKind, on_delete=models.CASCADE, related_name="versions", verbose_name=_("kind")
    )
    number = models.PositiveSmallIntegerField(_("version"))
    commitment = models.CharField(
        _("time limit of the whole application"),
        max_length=40,
        choices=Commitment.choices,
        blank=True,
        help_text=_(
            "The commitment whose clock runs from acceptance until the application is completed, "
            "besides each step's own (State Grid's whole new connection, for one)."
        ),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("version of a kind")
        verbose_name_plural = _("versions of kinds")
        ordering = ["kind", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "number"], name="kindversion_unique_number")
        ]

    def __str__(self):
        return f"{self.kind} v{self.number}"


class KindStep(models.Model):
    """One step of a version, in order; ``customer_classes`` empty: every class."""

    version = ParentalKey(KindVersion, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(_("position"))
    step = models.CharField(_("step"), max_length=30, choices=Step.choices)
    customer_classes = models.JSONField(
        _("only for these customer classes"), default=list, blank=True
    )
    commitment = models.CharField(
        _("time limit"),
        max_length=40,
        choices=Commitment.choices,
        blank=True,
        help_text=_("The commitment whose clock runs while the case is at this step."),
    )
    billing_message = models.CharField(
        _("message to the billing system"),
        max_length=20,
        choices=BillingMessageKind.choices,
        blank=True,
        help_text=_("Sent to the billing system when the case has done this step."),
    )

    class Meta:
        verbose_name = _("step")
        verbose_name_plural = _("steps")
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "step"], name="kindstep_once_per_version"),
        ]

    def __str__(self):
        return self.get_step_display()

    def applies_to(self, customer_class: str) -> bool:
        return not self.customer_classes or customer_class in self.customer_classes


class KindDocument(models.Model):
    """A document a version asks for, for some customer classes (empty: every class)."""

    version = ParentalKey(KindVersion, on_delete=models.CASCADE, related_name="documents")
    document = models.CharField(_("document"), max_length=30, choices=DocumentType.choices)
    customer_classes = models.JSONField(
        _("only for these customer classes"), default=list, blank=True
    )
    required = models.BooleanField(_("required"), default=True)

    class Meta:
        verbose_name = _("document asked for")
        verbose_name_plural = _("documents asked for")
        ordering = ["version", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "document"], name="kinddocument_once_per_version"
            ),
        ]

    def __str__(self):
        return self.get_document_display()

    def applies_to(self, customer_class: str) -> bool:
        return not self.customer_classes or customer_class in self.customer_classes


# --- Cases: one customer's application, its steps' clocks and its history -------------------------
class CaseStatus(models.TextChoices):
    """Where a case stands as a whole; which step it is at is ``Case.step``."""

    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted, waiting to be accepted")
    IN_PROGRESS = "in_progress", _("In progress")
    WAITING_CUSTOMER = "waiting_customer", _("Waiting for the customer's material")
    COMPLETED = "completed", _("Completed")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


OPEN_STATUSES = (CaseStatus.SUBMITTED, CaseStatus.IN_PROGRESS, CaseStatus.WAITING_CUSTOMER)


class CaseChannel(models.TextChoices):
    """How the case reached us."""

    ONLINE = "online", _("Online")
    HOTLINE = "hotline", _("95598 hotline")
    COUNTER = "counter", _("Service counter")


class Case(models.Model):
    """One application: who applies, for what, where, and where it stands. The steps it goes
    through are its kind version's, for its customer class; each step's time limit is a
    ``StepClock``; everything that happens to it is a ``CaseEvent``."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    reference = models.CharField(_("reference"), max_length=20, unique=True)
    kind_version = models.ForeignKey(
        KindVersion, on_delete=models.PROTECT, related_name="cases", verbose_name=_("kind")
    )
    category = models.CharField(_("kind"), max_length=30, choices=Category.choices)
    """The kind's category, kept on the case for the queue's filters."""
    customer_class = models.CharField(
        _("customer class"), max_length=20, choices=CustomerClass.choices
    )
    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="applications",
        verbose_name=_("applicant"),
    )
    organisation = models.ForeignKey(
        "portal.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="applications",
        verbose_name=_("organisation"),
    )
    account = models.ForeignKey(
        "portal.ServiceAccount",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="applications",
        verbose_name=_("electricity account"),
    )
    contact_name = models.CharField(_("contact name"), max_length=100, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=20, blank=True)
    address = models.CharField(_("premise address"), max_length=300, blank=True)
    district = models.CharField(_("district"), max_length=100, blank=True)
    capacity_kva = models.DecimalField(
        _("requested capacity (kVA)"), max_digits=10, decimal_places=1, null=True, blank=True
    )
    loads = models.JSONField(_("electrical loads"), default=list, blank=True)
    description = models.TextField(_("description"), blank=True)
    channel = models.CharField(
        _("channel"), max_length=10, choices=CaseChannel.choices, default=CaseChannel.ONLINE
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("opened by"),
        help_text=_("The member of staff who opened the case for the customer."),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=CaseStatus.choices, default=CaseStatus.DRAFT
    )
    step = models.CharField(_("step"), max_length=30, choices=Step.choices, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_cases",
        verbose_name=_("assigned to"),
    )
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    """The running clock's deadline (the queue's order); None while no clock runs."""
    queue_open = models.GeneratedField(
        expression=Q(status__in=OPEN_STATUSES),
        output_field=models.BooleanField(),
        db_persist=True,
    )
    """``status`` is one of ``OPEN_STATUSES``, kept by the database: the first column of the
    queue's index (``case_queue_open``), so that the open queue is one equality and its order is
    the index's on both databases, whatever statistics the planner has. In Python, read
    ``is_open``, which follows ``status`` before the row is saved."""
    assigned_account_number = models.CharField(
        _("account number assigned"),
        max_length=20,
        blank=True,
        help_text=_("The billing system's number for the new connection's account."),
    )
    """Recorded by staff; the account is bound to the applicant once it exists (``account``)."""
    close_reason = models.TextField(_("reason"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("application")
        verbose_name_plural = _("applications")
        ordering = ["-created_at"]
        permissions = [("work_case", _("Can work applications (accept, move, request, reject)"))]
        indexes = [
            models.Index(fields=["status", "due_at"], name="case_queue"),
            models.Index(fields=["applicant", "-created_at"], name="case_applicant"),
            # The queue's default order and its overdue filter: the 50 nearest deadlines of the
            # open cases are read off it, not sorted from all of them (docs/performance.md).
            models.Index(
                fields=["queue_open", "due_at", "created_at", "id"], name="case_queue_open"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["assigned_account_number"],
                condition=~Q(assigned_account_number=""),
                name="case_account_number_once",
            )
        ]

    def __str__(self):
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class StepClock(models.Model):
    """The time limit of one step of one case: when it started, when it falls due under which
    published rule, how long it stood still while the case waited on the customer, and whether
    the deadline was missed (recorded with who held the case then; never reset)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="clocks")
    step = models.CharField(_("step"), max_length=30, choices=Step.choices, blank=True)
    """Blank for the whole application's clock."""
    whole_case = models.BooleanField(_("whole application"), default=False)
    """The clock of the kind's whole-application commitment: from acceptance to completion."""
    commitment = models.CharField(
        _("commitment"), max_length=40, choices=Commitment.choices, blank=True
    )
    rule_set = models.CharField(_("commitment set"), max_length=40, blank=True)
    amount = models.PositiveIntegerField(_("time limit"), null=True, blank=True)
    unit = models.CharField(_("unit"), max_length=20, choices=TimeUnit.choices, blank=True)
    started_at = models.DateTimeField(_("started at"))
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    """None: the step has no time limit."""
    paused_at = models.DateTimeField(_("stopped at"), null=True, blank=True)
    paused_seconds = models.PositiveBigIntegerField(_("seconds stopped"), default=0)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    warned_at = models.DateTimeField(_("staff warned at"), null=True, blank=True)
    missed_at = models.DateTimeField(_("deadline missed, recorded at"), null=True, blank=True)
    missed_holder = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("held by when missed"),
    )

    class Meta:
        verbose_name = _("step clock")
        verbose_name_plural = _("step clocks")
        ordering = ["case", "started_at", "pk"]
        indexes = [models.Index(fields=["finished_at", "due_at"], name="stepclock_running")]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "whole_case"],
                condition=Q(finished_at__isnull=True),
                name="stepclock_one_running_of_each",
            )
        ]

    def __str__(self):
        return f"{self.case} {self.get_step_display()}"


class EventKind(models.TextChoices):
    STATUS = "status", _("Status changed")
    STEP = "step", _("Moved to a step")
    MESSAGE = "message", _("Message from the customer")
    REQUEST = "request", _("Material requested")
    ANSWER = "answer", _("Material provided")
    NOTE = "note", _("Internal note")
    ASSIGNED = "assigned", _("Assigned")
    WARNED = "warned", _("Deadline near: staff warned")
    MISSED = "missed", _("Deadline missed")
    ACCOUNT = "account", _("Electricity account assigned")


class CaseEvent(models.Model):
    """One entry of a case's history: both sides read it as the timeline, except the internal
    notes and the deadline records, which only staff see."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("what"), max_length=20, choices=EventKind.choices)
    at = models.DateTimeField(_("when"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    from_value = models.CharField(_("from"), max_length=30, blank=True)
    to_value = models.CharField(_("to"), max_length=30, blank=True)
    text = models.TextField(_("text"), blank=True)
    internal = models.BooleanField(_("staff only"), default=False)

    class Meta:
        verbose_name = _("application event")
        verbose_name_plural = _("application events")
        ordering = ["case", "at", "pk"]

    def __str__(self):
        return f"{self.case} {self.get_kind_display()}"

    @property
    def to_label(self) -> str:
        """The status or step moved to, in words."""
        choices = CaseStatus if self.kind == EventKind.STATUS else Step
        return choices(self.to_value).label if self.to_value in choices.values else self.to_value


class CaseDocument(models.Model):
    """A file uploaded with a case, checked by its content first (``applications.uploads``) and
    stored privately under a random name; served only through the case's permission-checked
    view, as an attachment."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="documents")
    document = models.CharField(_("document"), max_length=30, choices=DocumentType.choices)
    file = models.FileField(_("file"), max_length=200)
    name = models.CharField(_("file name"), max_length=100)
    content_type = models.CharField(_("type"), max_length=40)
    size = models.PositiveIntegerField(_("size"))
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    answer = models.ForeignKey(
        CaseEvent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="documents",
        help_text=_("The answer to a request it came with."),
    )

    class Meta:
        verbose_name = _("uploaded document")
        verbose_name_plural = _("uploaded documents")
        ordering = ["case", "uploaded_at", "pk"]

    def __str__(self):
        return self.name


# --- Quality: the satisfaction survey after a completed case (docs/applications.md, "Quality") ---
SURVEY_COMMENT_MAX = 1000


class SurveyAnswer(models.Model):
    """The applicant's answer to the short survey a completed case sends (``applications.survey``):
    a score from 1 (poor) to 5 (very good) and a comment if they like. One per case; once
    given, it is never changed."""

    case = models.OneToOneField(
        Case, on_delete=models.CASCADE, related_name="survey_answer", verbose_name=_("application")
    )
    score = models.PositiveSmallIntegerField(_("score"))
    comment = models.TextField(_("comment"), max_length=SURVEY_COMMENT_MAX, blank=True)
    answered_at = models.DateTimeField(_("answered at"))

    class Meta:
        verbose_name = _("survey answer")
        verbose_name_plural = _("survey answers")
        ordering = ["-answered_at", "pk"]
        # The manager's dashboard (applications.dashboard) reads every case's figures: a
        # permission of its own, held by the Service staff group (portal/roles.py).
        permissions = [("view_dashboard", _("Can view the applications dashboard"))]
        indexes = [models.Index(fields=["answered_at"], name="surveyanswer_answered")]
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=1, score__lte=5), name="surveyanswer_score_1_to_5"
            )
        ]

    def __str__(self):
        return f"{self.case} {self.score}/5"
