"""The outage management system's outages through the integration API (cms/api.py,
cms/outage_drafts.py; docs/integration.md, "Outages"): each arrives as a draft notice in the
editorial workflow and is never published unreviewed; the same reference sent again revises the
same notice, or changes nothing when nothing changed; refusals are problem documents naming the
field; only a client with outages:write may send."""

import json
import threading

import pytest
from django.db import connection
from django.test import Client
from wagtail.models import WorkflowState

from cms.models import NoticeKind, NoticePage, NoticeSource
from portal.integration import integration_client_create
from portal.models import AuditEvent, IntegrationScope
from portal.roles import EDITORIAL_WORKFLOW, REVIEWERS, roles_ensure
from tests.cms.notices import beijing
from tests.factories import ServiceAccountFactory, StaffUserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.time_machine(beijing(2026, 12, 1, 9, 0))]

URL = "/api/integration/v1/outages"
PROBLEM = "application/problem+json"

OUTAGE = {
    "external_id": "OMS-2026-004711",
    "kind": "planned_outage",
    "title": "张江计划停电",
    "districts": ["浦东新区"],
    "feeders": ["张江 10kV 1号线"],
    "starts_at": "2026-12-20T08:00:00+08:00",
    "ends_at": "2026-12-20T17:00:00+08:00",
    "reason": "线路检修",
    "body": "张江地区将停电。\n\n请提前做好准备。",
}


@pytest.fixture(autouse=True)
def places():
    ServiceAccountFactory(district="浦东新区", feeder="张江 10kV 1号线")
    ServiceAccountFactory(district="静安区", feeder="静安 10kV 3号线")


@pytest.fixture
def roles():
    return roles_ensure()


@pytest.fixture
def oms(settings, roles):
    """The outage management system's client, holding outages:write, reading English."""
    settings.INTEGRATION_API_RATE_LIMIT = 1000
    _client, token = integration_client_create(name="OMS", scopes=[IntegrationScope.OUTAGES_WRITE])
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE="en")


def send(api: Client, **changes):
    return api.post(URL, {**OUTAGE, **changes}, content_type="application/json")


def reviewer():
    user = StaffUserFactory()
    user.groups.add(roles_ensure()[REVIEWERS])
    return user


def approve(notice: NoticePage, user) -> None:
    """What the reviewer's "Approve" does in the admin."""
    notice = NoticePage.objects.get(pk=notice.pk)
    task_state = notice.current_workflow_state.current_task_state
    task_state.task.specific.on_action(task_state, user, "approve")


def outage_actions() -> list[dict]:
    return [
        json.loads(event.data)
        for event in AuditEvent.objects.filter(action="notice.outage_draft").order_by("seq")
    ]


# --- A draft for review --------------------------------------------------------------------------


def test_an_outage_arrives_as_a_draft_notice_waiting_for_a_reviewer(oms, client):
    answer = send(oms)

    assert answer.status_code == 201, answer.content
    body = answer.json()
    notice = NoticePage.objects.get()
    assert body == {
        "external_id": "OMS-2026-004711",
        "notice_id": notice.pk,
        "admin_url": f"/cms-admin/pages/{notice.pk}/edit/",
        "created": True,
        "changed": True,
        "live": False,
        "in_review": True,
        "short_notice": False,
    }
    assert (notice.source, notice.external_id, notice.kind) == (
        NoticeSource.OUTAGE_SYSTEM,
        "OMS-2026-004711",
        NoticeKind.PLANNED_OUTAGE,
    )
    assert notice.starts_at == beijing(2026, 12, 20, 8, 0)
    assert notice.feeders == ["张江 10kV 1号线"]
    assert notice.body == "<p>张江地区将停电。</p><p>请提前做好准备。</p>"
    assert not notice.live and notice.get_parent().specific_class.__name__ == "NoticeIndexPage"
    state = notice.current_workflow_state
    assert state.workflow.name == EDITORIAL_WORKFLOW
    assert state.status == WorkflowState.STATUS_IN_PROGRESS
    # Nobody outside reads it before a reviewer approves it.
    assert "张江计划停电" not in client.get("/notices/").content.decode()
    assert client.get(f"/notices/{notice.slug}/").status_code == 404
    (audited,) = outage_actions()
    assert audited["client"] == "OMS" and audited["external_id"] == "OMS-2026-004711"
    assert audited["created"] is True


def test_the_notice_is_published_when_a_reviewer_approves_it(oms, client):
    send(oms)
    notice = NoticePage.objects.get()

    approve(notice, reviewer())

    notice.refresh_from_db()
    assert notice.live
    assert "张江计划停电" in client.get("/notices/").content.decode()


def test_the_same_outage_sent_again_changes_nothing(oms):
    send(oms)
    notice = NoticePage.objects.get()
    state = notice.current_workflow_state

    again = send(oms)

    assert again.status_code == 200
    assert again.json()["created"] is False and again.json()["changed"] is False
    assert NoticePage.objects.count() == 1
    assert notice.revisions.count() == 1
    assert notice.current_workflow_state == state
    assert len(outage_actions()) == 1


def test_a_changed_outage_revises_the_same_draft_and_restarts_its_review(oms):
    send(oms)
    notice = NoticePage.objects.get()
    first_review = notice.current_workflow_state

    moved = send(oms, starts_at="2026-12-22T08:00:00+08:00", ends_at="2026-12-22T17:00:00+08:00")

    assert moved.status_code == 200
    assert moved.json()["created"] is False and moved.json()["changed"] is True
    assert NoticePage.objects.count() == 1
    notice.refresh_from_db()
    assert notice.revisions.count() == 2
    assert notice.starts_at == beijing(2026, 12, 22, 8, 0)  # a draft's row follows its draft
    first_review.refresh_from_db()
    assert first_review.status == WorkflowState.STATUS_CANCELLED
    review = notice.current_workflow_state
    assert review.status == WorkflowState.STATUS_IN_PROGRESS
    assert review.current_task_state.revision == notice.latest_revision
    assert [action["created"] for action in outage_actions()] == [True, False]


def test_a_published_notice_stays_as_it_is_until_the_change_is_approved(oms, client):
    send(oms)
    approve(NoticePage.objects.get(), reviewer())

    moved = send(oms, starts_at="2026-12-22T08:00:00+08:00", ends_at="2026-12-22T17:00:00+08:00")

    assert moved.status_code == 200
    assert moved.json()["live"] is True and moved.json()["in_review"] is True
    notice = NoticePage.objects.get()
    assert notice.starts_at == beijing(2026, 12, 20, 8, 0)
    online = client.get(notice.url).content.decode()
    assert "2026-12-20 08:00" in online and "2026-12-22" not in online

    approve(notice, reviewer())

    notice.refresh_from_db()
    assert notice.starts_at == beijing(2026, 12, 22, 8, 0)
    assert "2026-12-22 08:00" in client.get(notice.url).content.decode()


def test_an_editors_rewording_survives_the_same_outage_sent_again(oms, roles):
    send(oms)
    notice = NoticePage.objects.get()
    editor = StaffUserFactory()
    draft = notice.get_latest_revision_as_object()
    draft.body = "<p>张江地区（张江路以东）将停电。</p>"
    draft.save_revision(user=editor)

    again = send(oms)

    assert again.json()["changed"] is False
    notice.refresh_from_db()
    assert "张江路以东" in notice.get_latest_revision_as_object().body

    moved = send(oms, reason="变压器更换")

    assert moved.json()["changed"] is True
    notice.refresh_from_db()
    latest = notice.get_latest_revision_as_object()
    assert latest.reason == "变压器更换"
    assert latest.body == "<p>张江地区将停电。</p><p>请提前做好准备。</p>"  # the OMS's text
    assert notice.revisions.count() == 3  # the editor's wording stays in the history


def test_a_fault_outage_needs_no_end(oms):
    answer = send(oms, kind="fault_outage", ends_at=None, external_id="OMS-F-1")

    assert answer.status_code == 201
    assert NoticePage.objects.get().kind == NoticeKind.FAULT_OUTAGE


def test_a_planned_outage_less_than_7_days_ahead_needs_its_reason_and_is_flagged(oms):
    soon = {"starts_at": "2026-12-03T08:00:00+08:00", "ends_at": "2026-12-03T12:00:00+08:00"}

    refused = send(oms, **soon)

    assert refused.status_code == 422
    assert [e["pointer"] for e in refused.json()["errors"]] == ["#/short_notice_reason"]
    assert not NoticePage.objects.exists()

    taken = send(oms, **soon, short_notice_reason="设备缺陷需尽快处理")

    assert taken.status_code == 201 and taken.json()["short_notice"] is True
    assert NoticePage.objects.get().short_notice


def test_markup_in_the_text_is_kept_as_text(oms, client):
    send(oms, body='<script>alert("x")</script>')
    notice = NoticePage.objects.get()
    approve(notice, reviewer())

    page = client.get(notice.url).content.decode()

    assert "<script>alert" not in page
    assert "&lt;script&gt;" in page


# --- Refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "pointers"),
    [
        ({"districts": ["海淀区"], "feeders": []}, ["#/districts"]),
        ({"feeders": ["未知 10kV 9号线"]}, ["#/feeders"]),
        ({"districts": [], "feeders": []}, ["#/districts"]),
        ({"ends_at": None}, ["#/ends_at"]),
        ({"ends_at": "2026-12-20T07:00:00+08:00"}, ["#/ends_at"]),
        ({"kind": "general"}, ["#/kind"]),
        ({"starts_at": "2026-12-20T08:00:00"}, ["#/starts_at"]),
        ({"starts_at": "0001-01-01T00:00:00+14:00"}, ["#/starts_at"]),
        ({"title": "停电\x00"}, ["#/title"]),
        ({"title": "   "}, ["#/title"]),
        ({"external_id": "a b"}, ["#/external_id"]),
    ],
)
def test_an_outage_that_cannot_be_a_notice_is_refused_naming_the_field(oms, changes, pointers):
    answer = send(oms, **changes)

    assert answer.status_code == 422, answer.content
    assert answer["Content-Type"] == PROBLEM
    problem = answer.json()
    assert problem["type"] == "/api/integration/v1/problems/invalid-request"
    assert sorted({e["pointer"] for e in problem["errors"]}) == pointers
    assert not NoticePage.objects.exists()
    assert outage_actions() == []


def test_an_unknown_district_is_named_in_the_problem(oms):
    problem = send(oms, districts=["浦东新区", "海淀区"], feeders=[]).json()

    assert problem["errors"] == [
        {
            "location": "body",
            "pointer": "#/districts",
            "detail": "No account is in these districts: 海淀区.",
        }
    ]


def test_a_notice_an_editor_locked_is_refused_until_unlocked(oms):
    send(oms)
    NoticePage.objects.update(locked=True)

    answer = send(oms, reason="变压器更换")

    assert answer.status_code == 409
    assert answer["Content-Type"] == PROBLEM
    assert "locked" in answer.json()["detail"]
    assert NoticePage.objects.get().revisions.count() == 1


def test_only_a_client_with_outages_write_may_send(settings):
    settings.INTEGRATION_API_RATE_LIMIT = 1000
    _client, token = integration_client_create(name="CIS", scopes=[IntegrationScope.BILLS_WRITE])
    billing = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE="en")

    forbidden = send(billing)
    anonymous = send(Client())

    assert forbidden.status_code == 403 and forbidden["Content-Type"] == PROBLEM
    assert forbidden.json()["detail"] == "This client does not have the outages:write scope."
    assert anonymous.status_code == 401 and anonymous["Content-Type"] == PROBLEM
    assert not NoticePage.objects.exists()


def test_two_references_make_two_notices(oms):
    send(oms)
    other = send(
        oms, external_id="OMS-2026-004712", title="静安计划停电", districts=["静安区"], feeders=[]
    )

    assert other.status_code == 201
    assert NoticePage.objects.count() == 2
    assert len(set(NoticePage.objects.values_list("slug", flat=True))) == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_one_reference_sent_twice_at_once_makes_one_notice():
    """The OMS retries before its first call has answered: both calls take the notice index's
    row lock in turn, so the second finds the first's notice."""
    roles_ensure()
    _client, token = integration_client_create(name="OMS", scopes=[IntegrationScope.OUTAGES_WRITE])
    start = threading.Barrier(2)
    answers = []

    def call():
        try:
            oms = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE="en")
            start.wait()
            answers.append(send(oms).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answers) == [200, 201]
    assert NoticePage.objects.count() == 1
    assert NoticePage.objects.get().revisions.count() == 1
