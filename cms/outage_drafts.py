"""Outages sent by the outage management system (OMS) through the integration API
(``POST /api/integration/v1/outages``, cms/api.py; docs/integration.md, "Outages"): each becomes
a draft notice under the notice index, submitted to the editorial workflow, and is never
published by this module. A reviewer's approval publishes it (docs/cms.md, "Editorial workflow").

One notice per OMS reference (``external_id``). Sending the same reference again:

- with what was sent last time: nothing changes (a retry is safe), even if an editor has
  reworded the draft since;
- with something else: a new revision of the notice, on top of the latest one, with the OMS's
  fields replaced, submitted to the workflow afresh (a review in progress is cancelled, so the
  reviewer sees what is now proposed). A published notice stays as it is online until the new
  revision is approved: the OMS may move an announced outage, and that change, too, is reviewed
  before anyone reads it (and, once published, customers are told again about the new times).

The places must be ones the electricity accounts carry, as in the editor's form (cms/forms.py),
and the notice must pass the page's own rules (NoticePage.clean: an outage's places and times;
a planned outage less than 7 days ahead needs its reason).
"""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.html import escape
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail.log_actions import log
from wagtail.models import Revision, WorkflowState

from portal.core.audit import audit_record
from portal.core.errors import InvalidInput, PowerhallError
from portal.models import IntegrationClient, ServiceAccount

from .models import NoticeIndexPage, NoticeKind, NoticePage, NoticeSource
from .translation import default_language

# The notice's fields the OMS writes; everything else (slug, search description…) stays as the
# editors left it.
OMS_FIELDS = (
    "title",
    "kind",
    "districts",
    "feeders",
    "starts_at",
    "ends_at",
    "reason",
    "body",
    "short_notice_reason",
)
OMS_KINDS = (NoticeKind.PLANNED_OUTAGE, NoticeKind.FAULT_OUTAGE)


@dataclass(frozen=True)
class OutageDraft:
    """An outage as the OMS describes it, already parsed (types and lengths) at the edge."""

    external_id: str
    kind: str
    title: str
    districts: tuple[str, ...]
    feeders: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime | None
    reason: str
    body: str
    short_notice_reason: str

    def fields(self) -> dict:
        """The notice's values, as the page stores them."""
        return {
            "title": self.title,
            "kind": self.kind,
            "districts": list(dict.fromkeys(self.districts)),
            "feeders": list(dict.fromkeys(self.feeders)),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "reason": self.reason,
            "body": body_html(self.body),
            "short_notice_reason": self.short_notice_reason,
        }


class OutageDraftRefused(InvalidInput):
    """The outage cannot become a notice; ``errors`` maps each field to its reasons."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__(_("The outage cannot become a notice: see errors."))


class OutageNoticeLocked(PowerhallError):
    default_message = gettext_lazy(
        "An editor has locked this notice; it can be changed again once they unlock it."
    )


@dataclass(frozen=True)
class OutageDraftResult:
    notice: NoticePage
    created: bool
    changed: bool


def body_html(text: str) -> str:
    """The OMS's plain text as the notice's rich text: paragraphs at blank lines, line breaks
    kept. Escaped: markup from another system is text, never HTML."""
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n")]
    return "".join(
        "<p>" + "<br/>".join(escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
        if p
    )


def _unknown_places(draft: OutageDraft) -> dict[str, list[str]]:
    """The districts and feeders no electricity account carries (one query each)."""
    errors = {}
    for field, column, message in (
        ("districts", "district", _("No account is in these districts: %(places)s.")),
        ("feeders", "feeder", _("No account is on these feeders: %(places)s.")),
    ):
        values = list(dict.fromkeys(getattr(draft, field)))
        known = set(
            ServiceAccount.objects.filter(**{f"{column}__in": values})
            .values_list(column, flat=True)
            .distinct()
        )
        if unknown := [value for value in values if value not in known]:
            errors[field] = [message % {"places": _(", ").join(unknown)}]
    return errors


def _last_sent(notice: NoticePage) -> dict | None:
    """What the OMS sent last time: its revisions are the ones without a user (an editor's
    carry theirs)."""
    revision = (
        Revision.objects.for_instance(notice)
        .filter(user__isnull=True)
        .order_by("-created_at", "-id")
        .first()
    )
    if revision is None:
        return None
    sent = revision.as_object()
    return {field: getattr(sent, field) for field in OMS_FIELDS}


def _free_slug(index: NoticeIndexPage, external_id: str) -> str:
    base = slugify(f"outage-{external_id}")[:200] or "outage"
    slug, suffix = base, 1
    while index.get_children().filter(slug=slug).exists():
        suffix += 1
        slug = f"{base}-{suffix}"
    return slug


def _submit(notice: NoticePage) -> None:
    """Send the notice's latest revision to review: a review in progress, or one sent back for
    changes, is cancelled first (the reviewer would otherwise approve what they have not seen:
    approving publishes the latest revision)."""
    current = notice.workflow_states.filter(
        status__in=(WorkflowState.STATUS_IN_PROGRESS, WorkflowState.STATUS_NEEDS_CHANGES)
    ).first()
    if current is not None:
        current.cancel(user=None)
    workflow = notice.get_workflow()
    if workflow is not None:
        workflow.start(notice, user=None)


def outage_draft_submit(*, draft: OutageDraft, client: IntegrationClient) -> OutageDraftResult:
    """Create or revise the draft notice of the OMS's outage ``draft`` and submit it to the
    editorial workflow; never publishes. ``OutageDraftRefused`` names every field that is wrong,
    ``OutageNoticeLocked`` refuses a notice an editor has locked."""
    if draft.kind not in OMS_KINDS:
        raise OutageDraftRefused({"kind": [_("The outage system sends outages only.")]})
    errors = _unknown_places(draft)
    values = draft.fields()
    with transaction.atomic():
        # Serialises the OMS's calls, so one reference sent twice at once makes one notice. The
        # OMS writes the Chinese notice; its translations copy the times and places.
        chinese = {"locale__language_code": default_language()}
        index = NoticeIndexPage.objects.filter(**chinese).select_for_update().get()
        existing = (
            NoticePage.objects.filter(
                source=NoticeSource.OUTAGE_SYSTEM, external_id=draft.external_id, **chinese
            )
            .order_by("pk")
            .first()
        )
        if existing is not None and existing.locked:
            raise OutageNoticeLocked
        if existing is not None and not errors and _last_sent(existing) == values:
            return OutageDraftResult(existing, created=False, changed=False)
        if existing is None:
            notice, revision = _create(index, draft, values, errors=errors)
        else:
            notice, revision = _revise(existing, values, errors=errors)
        _submit(notice)
        audit_record(
            action="notice.outage_draft",
            obj=notice,
            actor_role="integration",
            data={
                "client": client.name,
                "external_id": draft.external_id,
                "created": existing is None,
                "revision": revision.pk,
                "kind": draft.kind,
                "starts_at": draft.starts_at.isoformat(),
                "ends_at": draft.ends_at.isoformat() if draft.ends_at else None,
                "districts": values["districts"],
                "feeders": values["feeders"],
            },
        )
    return OutageDraftResult(notice, created=existing is None, changed=True)


def _validate(notice: NoticePage, errors: dict[str, list[str]], **kwargs) -> None:
    """The page's own rules (NoticePage.clean, Wagtail's), with the places' errors: all the
    reasons at once, before anything is written."""
    try:
        notice.full_clean(**kwargs)
    except ValidationError as error:
        found = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
        errors = {**found, **errors}
    if errors:
        raise OutageDraftRefused(errors)


def _create(index: NoticeIndexPage, draft: OutageDraft, values: dict, *, errors):
    notice = NoticePage(
        **values,
        slug=_free_slug(index, draft.external_id),
        source=NoticeSource.OUTAGE_SYSTEM,
        external_id=draft.external_id,
        live=False,
    )
    # Validated as the page editor's form does before the page enters the tree: its parent
    # known (for the slug), its place in the tree not yet.
    notice._cached_parent_obj = index
    _validate(notice, errors, exclude=["path", "depth"])
    index.add_child(instance=notice)
    revision = notice.save_revision(clean=False)
    log(instance=notice, action="wagtail.create", revision=revision, content_changed=True)
    return notice, revision


def _revise(notice: NoticePage, values: dict, *, errors):
    """A new revision on top of the latest (an editor's, perhaps). A draft's own row follows its
    latest revision, as the page editor keeps it; a published notice's row stays what is online."""
    latest = notice.get_latest_revision_as_object()
    for field, value in values.items():
        setattr(latest, field, value)
    _validate(latest, errors)
    if not notice.live:
        latest.save(clean=False)
    revision = latest.save_revision(clean=False, log_action=True)
    return latest, revision
