"""Outage notices that reach people: publishing one tells exactly the people bound to the
accounts it cuts off (personally, or as an organisation's administrator or a member who may view
the account), each once per version of its times and places, in their language, by e-mail and
text message; the fan-out runs in batches; each affected customer's dashboard shows the outage.
Unpublishing or deleting it before it is over tells the people who were told that it is
cancelled."""

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from wagtail.models import Locale, PageLogEntry

from cms import reach
from cms.models import NoticeKind, NoticePage
from portal.models import Notification, NotificationKind
from tests.cms.notices import beijing, notice_publish
from tests.factories import (
    BindingFactory,
    MemberScopeFactory,
    MembershipFactory,
    OrganisationFactory,
    OrgBindingFactory,
    PhoneUserFactory,
    ServiceAccountFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PUDONG, ZHANGJIANG = "浦东新区", "张江 10kV 1号线"
JINGAN, JINGAN_FEEDER = "静安区", "静安 10kV 3号线"
NOW = beijing(2026, 12, 1, 9, 0)
WORK = {
    "districts": [PUDONG],
    "feeders": [ZHANGJIANG],
    "starts_at": beijing(2026, 12, 10, 8, 0),
    "ends_at": beijing(2026, 12, 10, 17, 0),
    "reason": "线路检修",
}


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def publish(django_capture_on_commit_callbacks):
    """``publish(title=…, **fields)``: an editor publishes a notice; what runs after the commit
    (the fan-out task, then the notifications' delivery) runs, as in production."""

    def run(**fields):
        with django_capture_on_commit_callbacks(execute=True):
            return notice_publish(**fields)

    return run


@pytest.fixture
def republish(django_capture_on_commit_callbacks):
    """``republish(notice, **changes)``: a new revision of a live notice, published."""

    def run(notice, **changes):
        page = NoticePage.objects.get(pk=notice.pk)
        for name, value in changes.items():
            setattr(page, name, value)
        page.full_clean()
        with django_capture_on_commit_callbacks(execute=True):
            page.save_revision().publish()
        return page

    return run


def affected(**fields):
    return ServiceAccountFactory(district=PUDONG, feeder=ZHANGJIANG, **fields)


@pytest.fixture
def people():
    """Who is bound to what: two residents on accounts the outage cuts off (one reads English
    and has a verified mobile), an organisation's account with its administrator, a member who
    may view it and one who may not, and a resident of another district."""
    chinese = UserFactory()
    BindingFactory(user=chinese, account=affected(), label="家")
    english = PhoneUserFactory(language="en")
    BindingFactory(user=english, account=affected(), label="Home")
    organisation = OrganisationFactory(name="张江科技有限公司")
    org_binding = OrgBindingFactory(organisation=organisation, account=affected())
    admin = MembershipFactory(organisation=organisation, role="admin").user
    viewer = MemberScopeFactory(
        membership=MembershipFactory(organisation=organisation), binding=org_binding
    ).membership.user
    blind = MemberScopeFactory(
        membership=MembershipFactory(organisation=organisation),
        binding=org_binding,
        can_view=False,
    ).membership.user
    elsewhere = UserFactory(language="en")
    BindingFactory(
        user=elsewhere, account=ServiceAccountFactory(district=JINGAN, feeder=JINGAN_FEEDER)
    )
    return {
        "chinese": chinese,
        "english": english,
        "admin": admin,
        "viewer": viewer,
        "blind": blind,
        "elsewhere": elsewhere,
    }


def told(kind=NotificationKind.OUTAGE, channel="email") -> list[str]:
    return sorted(
        Notification.objects.filter(kind=kind, channel=channel).values_list("recipient", flat=True)
    )


# --- Who is told -----------------------------------------------------------------------------
def test_publishing_an_outage_tells_exactly_the_people_bound_to_the_accounts_it_cuts_off(
    people, publish, mailoutbox
):
    publish(title="张江计划停电", **WORK)

    expected = sorted(people[name].email for name in ("chinese", "english", "admin", "viewer"))
    assert told() == expected
    assert sorted(address for mail in mailoutbox for address in mail.to) == expected
    assert people["blind"].email not in told() and people["elsewhere"].email not in told()


def test_each_person_reads_it_in_their_language_by_mail_and_by_text(
    people, publish, mail_text, sms_messages, mailoutbox, settings
):
    settings.SITE_URL = "http://127.0.0.1:8000"
    notice = publish(title="张江计划停电", **WORK)
    english, chinese = people["english"], people["chinese"]
    account = english.bindings.get().account.number
    masked = f"{account[:2]}****{account[-4:]}"

    mail = next(m for m in mailoutbox if english.email in m.to)
    assert mail.subject == "Planned power outage from 2026-12-10 08:00"
    text = mail_text(english.email)
    assert (
        f"The power supply to your account {masked} will be off for planned work from "
        "2026-12-10 08:00 to 2026-12-10 17:00." in text
    )
    assert "Notice: 张江计划停电" in text
    assert f"Account number: {masked} (Home)" in text
    assert f"Area: {PUDONG}、{ZHANGJIANG}" in text
    assert "Reason: 线路检修" in text
    assert f"The notice: http://127.0.0.1:8000{notice.url}" in text
    assert "other account" not in text

    assert [m["body"] for m in sms_messages(english.phone)] == [
        f"[powerhall] Planned power outage for account {masked} from 2026-12-10 08:00 to "
        f"2026-12-10 17:00 ({PUDONG}、{ZHANGJIANG})."
    ]

    chinese_mail = next(m for m in mailoutbox if chinese.email in m.to)
    assert chinese_mail.subject == "计划停电：2026-12-10 08:00 起"
    assert "将于 2026-12-10 08:00 至 2026-12-10 17:00 停电" in mail_text(chinese.email)


def test_a_fault_outage_says_so(people, publish, mail_text, sms_messages):
    publish(
        title="张江线路故障抢修",
        kind=NoticeKind.FAULT_OUTAGE,
        feeders=[ZHANGJIANG],
        starts_at=beijing(2026, 12, 1, 8, 30),
    )
    english = people["english"]
    assert (
        "has been cut off by a fault since 2026-12-01 08:30; repairs are under way."
        in mail_text(english.email)
    )
    assert "Power cut by a fault for account" in sms_messages(english.phone)[0]["body"]


def test_an_organisation_member_hears_once_for_all_the_accounts_the_outage_cuts_off(
    publish, mail_text
):
    organisation = OrganisationFactory()
    admin = MembershipFactory(organisation=organisation, role="admin", user__language="en").user
    for _ in range(3):
        OrgBindingFactory(organisation=organisation, account=affected())

    publish(title="张江计划停电", **WORK)

    assert told() == [admin.email]
    assert "It also cuts off 2 other accounts of yours." in mail_text(admin.email)


# --- Once per version ---------------------------------------------------------------------------
def test_publishing_again_without_changing_times_or_places_tells_nobody(
    people, publish, republish, mailoutbox, sms_messages
):
    notice = publish(title="张江计划停电", **WORK)
    sent = len(mailoutbox)

    republish(notice, title="张江计划停电（补充说明）", reason="线路检修及设备更换")

    assert len(mailoutbox) == sent
    assert len(sms_messages(people["english"].phone)) == 1


def test_a_changed_time_tells_everyone_again_that_it_changed(
    people, publish, republish, mailoutbox, mail_text, sms_messages
):
    notice = publish(title="张江计划停电", **WORK)
    mailoutbox.clear()

    republish(notice, ends_at=beijing(2026, 12, 10, 19, 0))

    english = people["english"]
    assert sorted(a for m in mailoutbox for a in m.to) == sorted(
        people[name].email for name in ("chinese", "english", "admin", "viewer")
    )
    mail = next(m for m in mailoutbox if english.email in m.to)
    assert mail.subject == "Changed: planned power outage from 2026-12-10 08:00"
    text = mail_text(english.email)
    assert "The times or places of this outage have changed since we last wrote" in text
    assert "to 2026-12-10 19:00." in text
    # The clock stands still here, so the two texts' files sort in no particular order.
    texts = sorted(m["body"] for m in sms_messages(english.phone))
    assert len(texts) == 2
    assert texts[0].startswith("[powerhall] Changed: planned power outage for account")


def test_a_new_place_tells_the_people_it_now_reaches(people, publish, republish):
    notice = publish(title="张江计划停电", **WORK)
    republish(notice, feeders=[ZHANGJIANG, JINGAN_FEEDER])
    assert people["elsewhere"].email in told()


def test_running_the_fan_out_twice_tells_nobody_twice(people, publish, mailoutbox):
    notice = publish(title="张江计划停电", **WORK)
    sent = len(mailoutbox)

    run = reach.outage_notify(notice_id=notice.pk, version=reach.outage_version(notice))

    assert run.done >= 1 and not run.skipped
    assert len(mailoutbox) == sent


def test_an_older_versions_task_leaves_the_notice_to_the_newer_one(people, publish, republish):
    notice = publish(title="张江计划停电", **WORK)
    old_version = reach.outage_version(notice)
    republish(notice, starts_at=beijing(2026, 12, 10, 9, 0))
    count = Notification.objects.count()

    assert reach.outage_notify(notice_id=notice.pk, version=old_version) is None
    assert Notification.objects.count() == count


def test_a_general_notice_or_an_outage_already_over_tells_nobody(people, publish):
    publish(title="春节营业时间调整", kind=NoticeKind.GENERAL, districts=[PUDONG])
    publish(
        title="昨日故障",
        kind=NoticeKind.FAULT_OUTAGE,
        feeders=[ZHANGJIANG],
        starts_at=beijing(2026, 11, 29, 8, 0),
        ends_at=beijing(2026, 11, 29, 12, 0),
    )
    assert told() == []


def test_a_scheduled_notice_tells_people_when_it_goes_live(
    people, django_capture_on_commit_callbacks
):
    notice = notice_publish(title="张江计划停电", go_live_at=beijing(2026, 12, 1, 12, 0), **WORK)
    assert not notice.live and told() == []

    with (
        time_machine.travel(beijing(2026, 12, 1, 12, 5), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        call_command("publish_scheduled")

    assert len(told()) == 4


# --- Many accounts ----------------------------------------------------------------------------
def test_the_fan_out_walks_the_accounts_in_batches(
    publish, monkeypatch, django_assert_max_num_queries, mail_text
):
    monkeypatch.setattr(reach, "BATCH", 3)
    residents = [BindingFactory(account=affected()).user for _ in range(7)]
    organisation = OrganisationFactory()
    admin = MembershipFactory(organisation=organisation, role="admin", user__language="en").user
    for _ in range(5):  # spread over the batches, after the residents' accounts
        OrgBindingFactory(organisation=organisation, account=affected())
    BindingFactory(user=admin, account=affected())  # and one of the admin's own

    notice = publish(title="张江计划停电", **WORK)

    assert told() == sorted(user.email for user in [*residents, admin])
    assert "It also cuts off 5 other accounts of yours." in mail_text(admin.email)
    # Telling nobody new costs the same few queries per batch of accounts: 13 accounts, 5
    # batches.
    with django_assert_max_num_queries(5 * 8):
        run = reach.outage_notify(notice_id=notice.pk, version=reach.outage_version(notice))
    assert run.done == 5


# --- Cancelled ---------------------------------------------------------------------------------
@pytest.fixture
def unpublish(django_capture_on_commit_callbacks):
    """``unpublish(notice)``: an editor unpublishes it; what runs after the commit runs."""

    def run(notice):
        with django_capture_on_commit_callbacks(execute=True):
            NoticePage.objects.get(pk=notice.pk).unpublish()

    return run


def cancellations() -> list[str]:
    return sorted(
        Notification.objects.filter(
            channel="email", idempotency_key__startswith="outage:cancel-"
        ).values_list("recipient", flat=True)
    )


def first_cancellation(notice) -> dict:
    """The arguments of the task the notice's first cancellation enqueued."""
    return {
        "notice": str(notice.translation_key),
        "cancellation": 0,
        "until": notice.ends_at.isoformat(),
    }


def test_unpublishing_an_outage_tells_the_people_told_of_it_that_it_is_cancelled(
    people, publish, unpublish, mailoutbox, mail_text, sms_messages
):
    notice = publish(title="张江计划停电", **WORK)
    # Bound after the notice went out: never told of it, so not told of its cancellation.
    latecomer = UserFactory(language="en")
    BindingFactory(user=latecomer, account=affected())
    mailoutbox.clear()

    unpublish(notice)

    told = sorted(people[name].email for name in ("chinese", "english", "admin", "viewer"))
    assert cancellations() == told
    assert sorted(address for mail in mailoutbox for address in mail.to) == told
    english = people["english"]
    mail = next(m for m in mailoutbox if english.email in m.to)
    assert mail.subject == "Cancelled: planned power outage from 2026-12-10 08:00"
    text = mail_text(english.email)
    account = english.bindings.get().account.number
    masked = f"{account[:2]}****{account[-4:]}"
    assert (
        f"The planned power outage to your account {masked} from 2026-12-10 08:00 to "
        "2026-12-10 17:00 has been cancelled" in text
    )
    assert "Notice: 张江计划停电" in text and f"Account number: {masked} (Home)" in text
    assert notice.url not in text  # the notice is off the site
    assert sms_messages(english.phone)[-1]["body"] == (
        f"[powerhall] Cancelled: the planned power outage for account {masked} from "
        f"2026-12-10 08:00 to 2026-12-10 17:00 ({PUDONG}、{ZHANGJIANG}) will not take place."
    )
    # Each in their language.
    languages = dict(
        Notification.objects.filter(
            channel="email", idempotency_key__startswith="outage:cancel-"
        ).values_list("recipient", "language")
    )
    assert languages[english.email] == "en" and languages[people["chinese"].email] == "zh-hans"
    # The page's history keeps it.
    assert PageLogEntry.objects.filter(page_id=notice.pk, action="cms.outage_cancelled").exists()


def test_deleting_an_outage_notice_cancels_it_too(
    people, publish, django_capture_on_commit_callbacks
):
    notice = publish(
        title="张江线路故障抢修",
        kind=NoticeKind.FAULT_OUTAGE,
        feeders=[ZHANGJIANG],
        starts_at=beijing(2026, 12, 1, 8, 30),
    )

    with django_capture_on_commit_callbacks(execute=True):
        NoticePage.objects.get(pk=notice.pk).delete()

    assert len(cancellations()) == 4
    subject = Notification.objects.get(
        user=people["english"], channel="email", idempotency_key__startswith="outage:cancel-"
    ).subject
    assert subject == "Withdrawn: notice of a power cut by a fault since 2026-12-01 08:30"


def test_a_cancellation_reaches_nobody_who_was_not_told(people, publish, unpublish):
    other = publish(
        title="静安计划停电",
        feeders=[JINGAN_FEEDER],
        districts=[JINGAN],
        starts_at=WORK["starts_at"],
        ends_at=WORK["ends_at"],
    )
    publish(title="张江计划停电", **WORK)

    unpublish(other)

    assert cancellations() == [people["elsewhere"].email]


def test_an_outage_over_or_expired_leaves_the_site_silently(
    people, publish, unpublish, django_capture_on_commit_callbacks
):
    notice = publish(title="张江计划停电", **WORK)
    with time_machine.travel(beijing(2026, 12, 10, 17, 5), tick=False):
        unpublish(notice)
    assert cancellations() == []
    assert not PageLogEntry.objects.filter(action="cms.outage_cancelled").exists()

    # Expiry is the scheduler taking a notice off the site, not a cancellation.
    expiring = publish(
        title="张江线路故障抢修",
        kind=NoticeKind.FAULT_OUTAGE,
        feeders=[ZHANGJIANG],
        starts_at=beijing(2026, 12, 1, 8, 30),
    )
    NoticePage.objects.filter(pk=expiring.pk).update(expire_at=beijing(2026, 12, 1, 12, 0))
    with (
        time_machine.travel(beijing(2026, 12, 1, 12, 5), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        call_command("publish_scheduled")
    assert not NoticePage.objects.get(pk=expiring.pk).live
    assert cancellations() == []


def test_running_the_cancellation_twice_tells_nobody_twice(people, publish, mailoutbox):
    notice = publish(title="张江计划停电", **WORK)
    NoticePage.objects.get(pk=notice.pk).unpublish()  # its task is not run: it is run below
    cancel = first_cancellation(notice)

    first = reach.outage_cancel_notify(**cancel, batch_size=3)
    again = reach.outage_cancel_notify(**cancel, batch_size=3)

    assert first.done == again.done >= 2 and not again.skipped  # batches of 3 messages
    assert len(cancellations()) == 4


def test_publishing_again_after_a_cancellation_tells_them_again_as_news(
    people, publish, unpublish, mailoutbox, django_capture_on_commit_callbacks
):
    notice = publish(title="张江计划停电", **WORK)
    unpublish(notice)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        NoticePage.objects.get(pk=notice.pk).save_revision().publish()

    english = people["english"]
    assert sorted(a for m in mailoutbox for a in m.to) == sorted(
        people[name].email for name in ("chinese", "english", "admin", "viewer")
    )
    mail = next(m for m in mailoutbox if english.email in m.to)
    assert mail.subject == "Planned power outage from 2026-12-10 08:00"  # news, not "Changed"

    # Cancelled a second time: told again.
    mailoutbox.clear()
    unpublish(notice)
    assert [m.subject for m in mailoutbox if english.email in m.to] == [
        "Cancelled: planned power outage from 2026-12-10 08:00"
    ]
    assert len(cancellations()) == 8


def test_a_cancellation_published_again_before_its_task_ran_tells_nobody(people, publish):
    notice = publish(title="张江计划停电", **WORK)
    page = NoticePage.objects.get(pk=notice.pk)
    page.unpublish()  # its task is not run yet
    page.save_revision().publish()
    cancel = first_cancellation(notice)

    assert reach.outage_cancel_notify(**cancel) is None
    assert cancellations() == []


def test_unpublishing_the_english_translation_tells_nobody(people, publish, unpublish):
    notice = publish(title="张江计划停电", **WORK)
    translation = NoticePage.objects.get(pk=notice.pk).copy_for_translation(
        Locale.objects.get(language_code="en"), copy_parents=True
    )
    translation.title = "Planned outage in Zhangjiang"
    translation.save_revision().publish()

    unpublish(translation)

    assert cancellations() == []
    assert NoticePage.objects.get(pk=notice.pk).live


# --- The dashboard --------------------------------------------------------------------------
def dashboard(client, user) -> str:
    client.force_login(user)
    return client.get(reverse("me:dashboard"), HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_dashboard_shows_the_outage_to_the_affected_customer_only(people, publish, client):
    notice = publish(title="张江计划停电", **WORK)

    page = dashboard(client, people["english"])
    assert "张江计划停电" in page
    assert f'href="{notice.url}"' in page
    assert "2026-12-10 08:00 – 2026-12-10 17:00" in page

    other = dashboard(client, people["elsewhere"])
    assert "张江计划停电" not in other
    assert "None announced" in other


def test_an_outage_leaves_the_dashboard_when_unpublished_or_over(people, publish, client):
    notice = publish(title="张江计划停电", **WORK)
    fault = publish(
        title="张江线路故障抢修",
        kind=NoticeKind.FAULT_OUTAGE,
        feeders=[ZHANGJIANG],
        starts_at=beijing(2026, 12, 1, 8, 30),
    )
    page = dashboard(client, people["english"])
    assert "张江线路故障抢修" in page and "Under way" in page and "end not known yet" in page

    NoticePage.objects.get(pk=notice.pk).unpublish()
    assert "张江计划停电" not in dashboard(client, people["english"])
    with time_machine.travel(beijing(2026, 12, 2, 9, 0), tick=False):
        assert fault.title not in dashboard(client, people["english"])


def test_the_dashboard_costs_the_same_queries_for_one_card_or_four(
    publish, client, django_assert_max_num_queries
):
    user = UserFactory(language="en")
    BindingFactory(user=user, account=affected())
    publish(title="张江计划停电", **WORK)
    dashboard(client, user)
    with CaptureQueriesContext(connection) as one_card:
        dashboard(client, user)
    one_card = len(one_card)  # now: every request empties the connection's query log

    for district in ("静安区", "徐汇区", "黄浦区"):
        BindingFactory(user=user, account=ServiceAccountFactory(district=district, feeder=""))
        publish(
            title=f"{district}计划停电",
            districts=[district],
            starts_at=beijing(2026, 12, 11, 8, 0),
            ends_at=beijing(2026, 12, 11, 12, 0),
        )
    dashboard(client, user)
    with django_assert_max_num_queries(one_card):
        page = dashboard(client, user)
    for title in ("张江计划停电", "静安区计划停电", "徐汇区计划停电", "黄浦区计划停电"):
        assert page.count(title) == 1
