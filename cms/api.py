"""The CMS's endpoint of the integration API (portal/integration_api.py holds the API, its
authentication and limits): outages from the outage management system, each a draft notice for
the editors to review (cms/outage_drafts.py; docs/integration.md, "Outages")."""

from datetime import datetime
from typing import Annotated, Literal

from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from pydantic import AwareDatetime, Field, field_validator

from portal.integration_api import (
    INVALID_REQUEST,
    ApiProblem,
    check_client,
    problem_responses,
)
from portal.models import IntegrationScope

from .outage_drafts import (
    OutageDraft,
    OutageDraftRefused,
    OutageNoticeLocked,
    outage_draft_submit,
)

router = Router()

# One line of text: no control characters (PostgreSQL refuses NUL; a title has no line breaks).
LINE = r"^[^\x00-\x1f\x7f]*$"
# Text with line breaks and tabs.
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
# The OMS's reference for an outage (also the notice's address: /notices/outage-<reference>/).
REFERENCE = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
# Times an outage can have: wide enough for any real one, narrow enough for every database.
EARLIEST, LATEST = 2000, 2100

Place = Annotated[str, Field(min_length=1, max_length=100, pattern=LINE)]


class OutageIn(Schema):
    external_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=REFERENCE,
        description="The outage management system's reference for this outage. Sending it "
        "again revises the same notice.",
    )
    kind: Literal["planned_outage", "fault_outage"] = Field(
        "planned_outage", description="A planned outage, or a fault outage (unplanned)."
    )
    title: str = Field(min_length=1, max_length=255, pattern=LINE)
    districts: list[Place] = Field(
        default_factory=list,
        max_length=100,
        description="Districts cut off, as the electricity accounts carry them.",
    )
    feeders: list[Place] = Field(
        default_factory=list,
        max_length=500,
        description="Feeders or transformer areas (台区) cut off, as the accounts carry them. "
        "Empty: every account in the districts.",
    )
    starts_at: AwareDatetime = Field(description="When supply stops (with its UTC offset).")
    ends_at: AwareDatetime | None = Field(
        None, description="When supply is planned to be back; required for a planned outage."
    )
    reason: str = Field("", max_length=200, pattern=LINE)
    body: str = Field(
        "",
        max_length=20_000,
        pattern=TEXT,
        description="Plain text for the notice; blank lines separate paragraphs.",
    )
    short_notice_reason: str = Field(
        "",
        max_length=2_000,
        pattern=TEXT,
        description="Required for a planned outage starting less than 7 days from now: why it "
        "could not be announced earlier.",
    )

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _plausible(cls, value: datetime | None) -> datetime | None:
        if value is not None and not EARLIEST <= value.year < LATEST:
            raise ValueError(f"must be in the years {EARLIEST} to {LATEST - 1}")
        return value

    @field_validator("title", "reason")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return " ".join(value.split())


class OutageOut(Schema):
    external_id: str
    notice_id: int = Field(description="The notice's page id in the CMS.")
    admin_url: str = Field(description="Where editors open the notice.")
    created: bool = Field(description="A new notice was made for this reference.")
    changed: bool = Field(
        description="A new revision was saved and submitted for review; false when the same "
        "outage was sent before (nothing changed)."
    )
    live: bool = Field(
        description="A version of the notice is published; a new revision waits for review."
    )
    in_review: bool = Field(description="The notice is in the editorial workflow.")
    short_notice: bool = Field(
        description="A planned outage announced less than 7 days before it starts."
    )


EXAMPLE = {
    "external_id": "OMS-2026-004711",
    "kind": "planned_outage",
    "title": "浦东新区世纪大道计划停电",
    "districts": ["浦东新区"],
    "feeders": ["10kV 世纪线"],
    "starts_at": "2026-12-10T08:00:00+08:00",
    "ends_at": "2026-12-10T17:00:00+08:00",
    "reason": "10kV 世纪线检修",
    "body": "因线路检修，世纪大道沿线将停电。\n\n请提前做好准备。",
}


def _pointer(field: str) -> str:
    """Where in the body a notice's field came from (the page's slug from the reference)."""
    if field == "__all__":
        return "#"
    return "#/" + {"slug": "external_id"}.get(field, field)


@router.post(
    "/outages",
    operation_id="outage_submit",
    summary="Send an outage for the editors to review",
    description=(
        "Makes a draft notice of the outage under the notices, or a new revision of the notice "
        "made for the same `external_id`, and submits it to the editorial workflow: it is "
        "published only when a reviewer approves it. The same outage sent again changes "
        "nothing (`changed: false`). Places must be ones the electricity accounts carry; a "
        "planned outage needs its end, and less than 7 days ahead its `short_notice_reason`. "
        "`201` for a new notice, `200` otherwise; `409` while an editor has the notice locked. "
        "Scope `outages:write`."
    ),
    response={
        200: OutageOut,
        201: OutageOut,
        **problem_responses(400, 409, 413, 422),
    },
    openapi_extra={"requestBody": {"content": {"application/json": {"example": EXAMPLE}}}},
)
def outage_submit_view(request, body: OutageIn):
    check_client(request, IntegrationScope.OUTAGES_WRITE)
    draft = OutageDraft(
        external_id=body.external_id,
        kind=body.kind,
        title=body.title,
        districts=tuple(body.districts),
        feeders=tuple(body.feeders),
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        reason=body.reason,
        body=body.body,
        short_notice_reason=body.short_notice_reason,
    )
    try:
        result = outage_draft_submit(draft=draft, client=request.auth)
    except OutageNoticeLocked as error:
        raise ApiProblem(409, error.message) from error
    except OutageDraftRefused as error:
        raise ApiProblem(
            422,
            error.message,
            type=INVALID_REQUEST,
            title=_("Invalid request"),
            errors=[
                {"location": "body", "pointer": _pointer(field), "detail": str(message)}
                for field, messages in error.errors.items()
                for message in messages
            ],
        ) from error
    notice = result.notice
    return Status(
        201 if result.created else 200,
        {
            "external_id": notice.external_id,
            "notice_id": notice.pk,
            "admin_url": reverse("wagtailadmin_pages:edit", args=[notice.pk]),
            "created": result.created,
            "changed": result.changed,
            "live": notice.live,
            "in_review": notice.workflow_in_progress,
            "short_notice": notice.short_notice,
        },
    )
