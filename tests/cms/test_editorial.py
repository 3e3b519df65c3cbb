"""The editorial workflow (docs/cms.md, "Editorial workflow"): editors draft and submit, a
reviewer approves and so publishes; editors never publish and never reach payments, cases or
customers; service staff edit no page unless granted; the scheduler publishes and expires
notices at their times; the notices list flags a planned outage announced late."""

from datetime import timedelta

import pytest
import time_machine
from bs4 import BeautifulSoup
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from wagtail.models import (
    GroupApprovalTask,
    GroupPagePermission,
    Page,
    Site,
    Workflow,
    WorkflowPage,
    WorkflowState,
)
from wagtail.test.utils.form_data import querydict_from_html, rich_text

from cms.models import NoticeIndexPage, NoticeKind, NoticePage
from portal.roles import EDITORIAL_WORKFLOW, EDITORS, REVIEWERS, SERVICE_STAFF, roles_ensure
from tests.cms.notices import beijing, notice_publish
from tests.factories import PASSWORD, ServiceAccountFactory, StaffUserFactory, totp_enrol

pytestmark = pytest.mark.django_db

ADMIN = "/cms-admin/"


@pytest.fixture(autouse=True)
def places():
    ServiceAccountFactory(district="浦东新区", feeder="张江 10kV 1号线")
    ServiceAccountFactory(district="静安区", feeder="静安 10kV 3号线")


@pytest.fixture
def roles():
    return roles_ensure()


@pytest.fixture
def sign_in(roles, totp_code):
    """``sign_in(role)``: a browser of a new member of ``role``, signed in to the back office with
    their password and authenticator code, reading English."""

    def open_as(role: str) -> Client:
        user = StaffUserFactory()
        user.groups.add(roles[role])
        secret = totp_enrol(user)
        browser = Client(HTTP_ACCEPT_LANGUAGE="en")
        browser.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
        browser.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
        browser.user = user
        return browser

    return open_as


def notice_index() -> NoticeIndexPage:
    return NoticeIndexPage.objects.get()


def add_form(browser: Client):
    """The admin's form for a new notice under the notice index, as the editor's browser would
    submit it unchanged."""
    url = reverse("wagtailadmin_pages:add", args=["cms", "noticepage", notice_index().pk])
    page = browser.get(url)
    assert page.status_code == 200
    return url, querydict_from_html(page.content.decode(), form_id="page-edit-form")


def planned_outage_form(browser: Client, **changes):
    url, data = add_form(browser)
    data.update(
        {
            "title": "浦东新区计划停电",
            "slug": "pudong-planned-outage",
            "kind": NoticeKind.PLANNED_OUTAGE,
            "starts_at": "2026-12-20 08:00",
            "ends_at": "2026-12-20 17:00",
            "reason": "线路检修",
            "body": rich_text("<p>张江地区停电。</p>"),
        }
    )
    data.setlist("districts", ["浦东新区"])
    for name, value in changes.items():
        data[name] = value
    return url, data


def table_rows(html: str) -> dict[str, str]:
    """The text of each row of the admin's listing, by the notice's title (its first link)."""
    rows = {}
    for row in BeautifulSoup(html, "html.parser").select("table tbody tr"):
        title = row.select_one("td.title a")
        if title is not None:
            rows[title.get_text(strip=True)] = row.get_text(" ", strip=True)
    return rows


def approve(browser: Client, page: Page):
    state = page.current_workflow_state.current_task_state
    url = reverse("wagtailadmin_pages:workflow_action", args=[page.pk, "approve", state.pk])
    return browser.post(url, {"comment": ""})


# --- Roles ---------------------------------------------------------------------------------------


def test_the_roles_and_the_workflow_are_set_up_once(roles):
    home = Site.objects.get(is_default_site=True).root_page

    again = roles_ensure()

    assert again == roles
    editors, reviewers = roles[EDITORS], roles[REVIEWERS]
    rights = {
        group: set(
            GroupPagePermission.objects.filter(group=group).values_list(
                "page_id", "permission__codename"
            )
        )
        for group in (editors, reviewers)
    }
    assert rights[editors] == {(home.pk, "add_page"), (home.pk, "change_page")}
    assert (home.pk, "publish_page") in rights[reviewers]
    assert not GroupPagePermission.objects.filter(group=roles[SERVICE_STAFF]).exists()
    workflow = Workflow.objects.get(name=EDITORIAL_WORKFLOW)
    assert WorkflowPage.objects.get(page=home).workflow == workflow
    (task,) = [task.specific for task in workflow.tasks]
    assert isinstance(task, GroupApprovalTask)
    assert list(task.groups.all()) == [reviewers]
    # Every page under the home page goes through it, notices included.
    assert notice_index().get_workflow() == workflow
    assert Workflow.objects.filter(name=EDITORIAL_WORKFLOW).count() == 1


# --- Draft, submit, approve ----------------------------------------------------------------------


@pytest.mark.time_machine(beijing(2026, 12, 1, 9, 0))
def test_an_editor_submits_a_notice_and_a_reviewer_approves_it(sign_in, client, mailoutbox):
    editor, reviewer = sign_in(EDITORS), sign_in(REVIEWERS)
    url, data = planned_outage_form(editor)
    data["action-submit"] = "Submit to Editorial review"

    submitted = editor.post(url, data)

    assert submitted.status_code == 302, submitted.content.decode()[:2000]
    notice = NoticePage.objects.get(title="浦东新区计划停电")
    assert not notice.live
    assert notice.current_workflow_state.workflow.name == EDITORIAL_WORKFLOW
    assert client.get("/notices/").content.decode().count("浦东新区计划停电") == 0
    assert client.get(notice.url or "/notices/pudong-planned-outage/").status_code == 404
    # The reviewer is told, and finds it waiting on their dashboard.
    told = [m for m in mailoutbox if reviewer.user.email in m.to]
    assert told and "浦东新区计划停电" in told[-1].subject + told[-1].body
    assert "浦东新区计划停电" in reviewer.get(ADMIN).content.decode()

    approved = approve(reviewer, notice)

    assert approved.status_code in (200, 302)
    notice.refresh_from_db()
    assert notice.live
    assert notice.current_workflow_state is None
    assert "浦东新区计划停电" in client.get("/notices/").content.decode()
    assert client.get(notice.url).status_code == 200


@pytest.mark.time_machine(beijing(2026, 12, 1, 9, 0))
def test_an_editor_cannot_publish(sign_in):
    editor, reviewer = sign_in(EDITORS), sign_in(REVIEWERS)
    url, data = planned_outage_form(editor)
    assert 'name="action-publish"' not in editor.get(url).content.decode()
    assert 'name="action-publish"' in reviewer.get(url).content.decode()
    data["action-publish"] = "Publish"

    editor.post(url, data)

    notice = NoticePage.objects.filter(title="浦东新区计划停电").first()
    assert notice is None or not notice.live
    assert not NoticePage.objects.live().exists()


@pytest.mark.time_machine(beijing(2026, 12, 1, 9, 0))
def test_a_reviewer_can_send_a_notice_back_and_it_stays_unpublished(sign_in, client):
    editor, reviewer = sign_in(EDITORS), sign_in(REVIEWERS)
    url, data = planned_outage_form(editor)
    data["action-submit"] = "Submit"
    editor.post(url, data)
    notice = NoticePage.objects.get(title="浦东新区计划停电")
    state = notice.current_workflow_state.current_task_state

    reviewer.post(
        reverse("wagtailadmin_pages:workflow_action", args=[notice.pk, "reject", state.pk]),
        {"comment": "请写明受影响的小区。"},
    )

    notice.refresh_from_db()
    assert not notice.live
    assert notice.current_workflow_state.status == WorkflowState.STATUS_NEEDS_CHANGES
    assert "浦东新区计划停电" not in client.get("/notices/").content.decode()


# --- Who reaches what ----------------------------------------------------------------------------

FORBIDDEN_TO_EDITORS = [
    "online-payments/",
    "payment-events/",
    "tariffs/",
    "tariff-versions/",
    "penalty-rules/",
    "applications/",
    "applications-dashboard/",
    "application-kinds/",
    "kind-versions/",
    "commitments/",
    "calendar-days/",
    "audit-log/",
    "job-problems/",
    "integration-clients/",
    "unknown-tariffs/",
    "users/",
    "groups/",
]


def test_editors_reach_content_but_not_payments_cases_or_customers(sign_in):
    editor = sign_in(EDITORS)

    assert editor.get(ADMIN).status_code == 200
    assert editor.get(ADMIN + "notices/").status_code == 200
    assert editor.get(ADMIN + "images/").status_code == 200
    assert editor.get(ADMIN + "documents/").status_code == 200
    refused = {path: editor.get(ADMIN + path).status_code for path in FORBIDDEN_TO_EDITORS}
    assert {path: status for path, status in refused.items() if status not in (302, 403)} == {}
    codenames = set(Group.objects.get(name=EDITORS).permissions.values_list("codename", flat=True))
    assert not codenames & {
        "view_paymentattempt",
        "view_case",
        "work_case",
        "view_auditevent",
        "view_serviceaccount",
        "view_user",
        "change_user",
    }


def test_service_staff_edit_no_page_unless_granted(service_staff, client):
    edit = reverse("wagtailadmin_pages:edit", args=[notice_index().pk])
    assert client.get(edit).status_code in (302, 403)
    assert client.get(ADMIN + "notices/").status_code in (302, 403)
    assert "Notices" not in client.get(ADMIN).content.decode()

    GroupPagePermission.objects.create(
        group=Group.objects.get(name=SERVICE_STAFF),
        page=Site.objects.get(is_default_site=True).root_page,
        permission=Permission.objects.get(codename="change_page"),
    )

    assert client.get(edit).status_code == 200


# --- The notices list ----------------------------------------------------------------------------


def test_the_notices_list_shows_and_filters_planned_outages_announced_late(sign_in):
    with time_machine.travel(beijing(2026, 12, 1, 9, 0), tick=False):
        late = notice_publish(
            title="张江紧急检修停电",
            feeders=["张江 10kV 1号线"],
            districts=["浦东新区"],
            starts_at=beijing(2026, 12, 3, 8, 0),
            ends_at=beijing(2026, 12, 3, 12, 0),
            short_notice_reason="设备缺陷需尽快处理",
        )
        on_time = notice_publish(
            title="静安计划停电",
            districts=["静安区"],
            starts_at=beijing(2026, 12, 20, 8, 0),
            ends_at=beijing(2026, 12, 20, 12, 0),
        )
    assert late.short_notice and not on_time.short_notice
    reviewer = sign_in(REVIEWERS)

    listing = reviewer.get(ADMIN + "notices/").content.decode()
    flagged = reviewer.get(ADMIN + "notices/", {"short_notice": "true"}).content.decode()

    assert "Notices" in reviewer.get(ADMIN).content.decode()  # the menu item
    headings = [th.get_text(" ", strip=True) for th in BeautifulSoup(listing, "html.parser")("th")]
    for column in ("Title", "Notice type", "Starts", "Districts", "Status", "Notice period"):
        assert any(column in heading for heading in headings), headings
    rows = table_rows(listing)
    assert "Planned outage" in rows[late.title] and "浦东新区" in rows[late.title]
    assert "Less than 7 days' notice" in rows[late.title]
    assert "Less than 7 days' notice" not in rows[on_time.title]
    assert "静安区" in rows[on_time.title] and "live" in rows[on_time.title].lower()
    assert set(table_rows(flagged)) == {late.title}
    general = reviewer.get(ADMIN + "notices/", {"kind": NoticeKind.GENERAL}).content.decode()
    assert table_rows(general) == {}


# --- Scheduled publishing and expiry -------------------------------------------------------------


def test_the_scheduler_publishes_an_approved_notice_at_its_time_and_expires_it(sign_in, client):
    go_live, expire = beijing(2026, 12, 5, 9, 0), beijing(2026, 12, 21, 0, 0)
    with time_machine.travel(beijing(2026, 12, 1, 9, 0)):
        editor, reviewer = sign_in(EDITORS), sign_in(REVIEWERS)
        url, data = planned_outage_form(
            editor, go_live_at="2026-12-05 09:00", expire_at="2026-12-21 00:00"
        )
        data["action-submit"] = "Submit"
        editor.post(url, data)
        notice = NoticePage.objects.get(title="浦东新区计划停电")
        approve(reviewer, notice)
        notice.refresh_from_db()
        assert not notice.live
        assert notice.get_latest_revision().approved_go_live_at == go_live
        assert notice.get_latest_revision_as_object().expire_at == expire

    with time_machine.travel(go_live - timedelta(minutes=1), tick=False):
        call_command("publish_scheduled")
        assert client.get("/notices/pudong-planned-outage/").status_code == 404

    # The scheduler's next run (every minute) after the time.
    with time_machine.travel(go_live + timedelta(minutes=1), tick=False):
        call_command("publish_scheduled")
        notice.refresh_from_db()
        assert notice.live
        assert "浦东新区计划停电" in client.get("/notices/").content.decode()
        assert client.get("/notices/pudong-planned-outage/").status_code == 200

    with time_machine.travel(expire - timedelta(minutes=1), tick=False):
        call_command("publish_scheduled")
        assert client.get("/notices/pudong-planned-outage/").status_code == 200

    with time_machine.travel(expire + timedelta(minutes=1), tick=False):
        call_command("publish_scheduled")
        notice.refresh_from_db()
        assert not notice.live and notice.expired
        assert client.get("/notices/pudong-planned-outage/").status_code == 404
        assert "浦东新区计划停电" not in client.get("/notices/").content.decode()
