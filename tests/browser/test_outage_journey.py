"""An outage notice from the editor's draft to the customer's calendar, in a real browser, in
Chinese and in English: an editor signs in to the back office with their authenticator code,
fills in a planned outage (kind, times, the district ticked, the feeder) and submits it for
review; a reviewer opens it and approves it, which publishes it; the customer whose account is
on that feeder finds it on their dashboard, in their e-mail (in their language) and in the
iCalendar feed; a customer of the same district on another feeder sees none of it and is told
nothing.

Publishing hands the fan-out to a task after the commit (cms/hooks.py): the live server's
requests commit for real, and tasks run in-process (the immediate backend), so the message is
in the outbox once the approval's response is back. Elements are found by field names, form
actions, URLs and data attributes, not by wording.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import translation
from icalendar import Calendar

from cms.models import NoticeIndexPage, NoticeKind, NoticePage
from portal.core import clock
from portal.roles import EDITORIAL_WORKFLOW, EDITORS, REVIEWERS, roles_ensure
from tests.browser.journey import (
    back_office_on_postgresql,
    settled,
    sign_in,
    sign_in_to_the_back_office,
)
from tests.factories import (
    BindingFactory,
    ServiceAccountFactory,
    StaffUserFactory,
    UserFactory,
    totp_enrol,
)

TITLE = "朝阳区望京西园计划停电通知"
DISTRICT, FEEDER, OTHER_FEEDER = "朝阳区", "望京 112 线", "望京 115 线"


def more_actions(page) -> None:
    """Open the menu of the editor's footer that holds submit, approve and the like."""
    page.locator("footer .w-dropdown-button [data-w-dropdown-target='toggle']").first.click()


def local(moment) -> str:
    """A time as Wagtail's date-time field takes it (Beijing time, the site's zone)."""
    return clock.localtime(moment).strftime("%Y-%m-%d %H:%M")


@pytest.mark.browser
@back_office_on_postgresql
def test_an_editor_drafts_an_outage_a_reviewer_approves_it_and_only_the_affected_customer_knows(
    contexts, totp_code, mailoutbox
):
    language = contexts["language"]
    index = NoticeIndexPage.objects.get()  # migrate made it; a flush puts it back
    roles = roles_ensure()
    editor, reviewer = StaffUserFactory(name="王编辑"), StaffUserFactory(name="陈审核")
    editor.groups.add(roles[EDITORS])
    reviewer.groups.add(roles[REVIEWERS])
    editor_secret, reviewer_secret = totp_enrol(editor), totp_enrol(reviewer)
    affected = UserFactory(email="zhang.xiaoming@example.cn", language=language)
    unaffected = UserFactory(email="li.na@example.cn", language=language)
    home = ServiceAccountFactory(number="3100770001", district=DISTRICT, feeder=FEEDER)
    elsewhere = ServiceAccountFactory(number="3100770002", district=DISTRICT, feeder=OTHER_FEEDER)
    BindingFactory(user=affected, account=home, label="家")
    BindingFactory(user=unaffected, account=elsewhere, label="家")
    # Ten days ahead: within the 7-day commitment, so no reason for short notice is asked.
    day = clock.localtime().date() + timedelta(days=10)
    starts = clock.day_start(day) + timedelta(hours=8, minutes=30)
    ends = clock.day_start(day) + timedelta(hours=17, minutes=30)

    # The editor drafts the outage in the back office and submits it for review.
    desk = contexts["open_page"]()
    add = reverse("wagtailadmin_pages:add", args=["cms", "noticepage", index.pk])
    sign_in_to_the_back_office(desk, editor, editor_secret, add, totp_code)
    desk.fill('input[name="title"]', TITLE)
    desk.select_option('select[name="kind"]', NoticeKind.PLANNED_OUTAGE)
    desk.fill('input[name="starts_at"]', local(starts))
    desk.fill('input[name="ends_at"]', local(ends))
    desk.check(f'input[name="districts"][value="{DISTRICT}"]')
    desk.fill('textarea[name="feeders"]', FEEDER)
    desk.fill('input[name="reason"]', "10kV 望京 112 线开关柜更换")
    desk.keyboard.press("Escape")  # close the date picker the last date field opened
    more_actions(desk)
    with desk.expect_navigation():
        desk.locator('footer button[name="action-submit"]').click()
    settled(desk)
    notice = NoticePage.objects.get(title=TITLE)
    assert not notice.live
    assert notice.current_workflow_state.workflow.name == EDITORIAL_WORKFLOW
    latest = notice.get_latest_revision_as_object()
    assert (latest.kind, latest.districts, latest.feeders) == (
        NoticeKind.PLANNED_OUTAGE,
        [DISTRICT],
        [FEEDER],
    )
    assert (latest.starts_at, latest.ends_at) == (starts, ends)
    assert not mailoutbox or all(affected.email not in m.to for m in mailoutbox)

    # The reviewer opens it and approves it, which publishes it.
    review = contexts["open_page"]()
    edit = reverse("wagtailadmin_pages:edit", args=[notice.pk])
    sign_in_to_the_back_office(review, reviewer, reviewer_secret, edit, totp_code)
    more_actions(review)
    with review.expect_navigation():
        review.locator(
            'footer button[data-workflow-action-name="approve"]'
            ":not([data-workflow-action-modal-url])"
        ).click()
    settled(review)
    notice.refresh_from_db()
    assert notice.live and notice.current_workflow_state is None

    # The affected customer: on the dashboard, in the mail, in the calendar.
    customer = contexts["open_page"]()
    sign_in(customer, affected.email)
    customer.goto(reverse("me:dashboard"))
    outages = customer.locator("main .account-card__outage a")
    assert outages.all_inner_texts() == [TITLE]
    assert outages.first.get_attribute("href") == notice.url
    told = [m for m in mailoutbox if affected.email in m.to]
    assert len(told) == 1
    with translation.override(language):
        expected_subject = translation.gettext("Planned power outage from %(start)s") % {
            "start": local(starts)
        }
    assert told[0].subject == expected_subject
    assert TITLE in told[0].body and "3100770001" not in told[0].body  # masked
    feed = customer.request.get(reverse("cms:outage_calendar"))
    assert feed.status == 200
    events = Calendar.from_ical(feed.body()).walk("VEVENT")
    (event,) = [e for e in events if str(e["SUMMARY"]) == TITLE]
    assert event.decoded("DTSTART") == starts and event.decoded("DTEND") == ends

    # The customer of the same district on another feeder: nothing.
    other = contexts["open_page"]()
    sign_in(other, unaffected.email)
    other.goto(reverse("me:dashboard"))
    assert other.locator("main .account-card__outage").count() == 0
    assert TITLE not in other.locator("main").inner_text()
    assert all(unaffected.email not in m.to for m in mailoutbox)
