"""The public feeds: the notices as Atom (all, or a district's, as the notice index filters) and
the planned outages as iCalendar, read with real parsers the way a feed reader and a calendar
would; a changed time updates the same event; answers to conditional requests."""

from urllib.parse import quote

import pytest
import time_machine
from defusedxml import ElementTree
from django.utils import translation
from icalendar import Calendar

from cms.models import NoticeIndexPage, NoticeKind, NoticePage
from tests.cms.notices import beijing, notice_publish
from tests.factories import ServiceAccountFactory

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def places():
    ServiceAccountFactory(district="浦东新区", feeder="张江 10kV 1号线")
    ServiceAccountFactory(district="静安区", feeder="静安 10kV 3号线")


@pytest.fixture
def notices():
    """A planned outage in 浦东新区, one in 静安区, a fault on a 浦东新区 feeder and a general
    notice, published on 1, 2, 3 and 4 December; a draft that was never published."""
    published = {}
    for day, (title, kind, fields) in enumerate(
        [
            (
                "浦东新区计划停电检修通知",
                NoticeKind.PLANNED_OUTAGE,
                {
                    "districts": ["浦东新区"],
                    "starts_at": beijing(2026, 12, 20, 8, 0),
                    "ends_at": beijing(2026, 12, 20, 17, 30),
                    "reason": "线路检修",
                    "body": "<p>届时张江镇部分用户将暂停供电。</p>",
                },
            ),
            (
                "静安区计划停电",
                NoticeKind.PLANNED_OUTAGE,
                {
                    "districts": ["静安区"],
                    "starts_at": beijing(2026, 12, 22, 9, 0),
                    "ends_at": beijing(2026, 12, 22, 12, 0),
                    "reason": "变电站改造",
                },
            ),
            (
                "张江线路抢修",
                NoticeKind.FAULT_OUTAGE,
                {"feeders": ["张江 10kV 1号线"], "starts_at": beijing(2026, 12, 3, 8, 30)},
            ),
            ("春节营业时间调整", NoticeKind.GENERAL, {}),
        ],
        start=1,
    ):
        with time_machine.travel(beijing(2026, 12, day, 9, 0), tick=False):
            published[title] = notice_publish(title=title, kind=kind, **fields)
    with time_machine.travel(beijing(2026, 12, 4, 10, 0), tick=False):
        NoticeIndexPage.objects.get().add_child(
            instance=NoticePage(
                title="草稿计划停电",
                kind=NoticeKind.PLANNED_OUTAGE,
                districts=["浦东新区"],
                starts_at=beijing(2026, 12, 24, 8, 0),
                ends_at=beijing(2026, 12, 24, 12, 0),
                live=False,
            )
        )
    return published


def read(client, url, **headers):
    with time_machine.travel(beijing(2026, 12, 5, 10, 0), tick=False):
        return client.get(url, **headers)


def atom(client, url="/notices/feed.atom"):
    response = read(client, url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    return ElementTree.fromstring(response.content)


def calendar(client, url="/notices/outages.ics") -> Calendar:
    response = read(client, url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.content)


def entry_titles(feed) -> list[str]:
    return [entry.findtext(f"{ATOM}title") for entry in feed.iter(f"{ATOM}entry")]


def test_the_atom_feed_lists_the_live_notices_newest_first(client, notices):
    feed = atom(client)

    assert feed.tag == f"{ATOM}feed"
    for element in ("id", "title", "updated"):  # what RFC 4287 requires of a feed
        assert feed.findtext(f"{ATOM}{element}")
    self_link = feed.find(f"{ATOM}link[@rel='self']")
    assert self_link.get("href") == "http://testserver/notices/feed.atom"
    assert entry_titles(feed) == [
        "春节营业时间调整",
        "张江线路抢修",
        "静安区计划停电",
        "浦东新区计划停电检修通知",
    ]

    pudong = feed.findall(f"{ATOM}entry")[-1]
    notice = notices["浦东新区计划停电检修通知"]
    assert pudong.findtext(f"{ATOM}id") == f"urn:uuid:{notice.translation_key}"
    assert pudong.find(f"{ATOM}link").get("href") == f"http://testserver{notice.url}"
    assert pudong.findtext(f"{ATOM}published").startswith("2026-12-01T01:00:00")  # 09:00 Beijing
    summary = pudong.findtext(f"{ATOM}summary")
    assert "2026-12-20 08:00 – 2026-12-20 17:30" in summary
    assert "线路检修" in summary and "届时张江镇部分用户将暂停供电" in summary
    assert [c.get("term") for c in pudong.findall(f"{ATOM}category")] == [
        "计划停电",  # the kind, in the site's default language
        "浦东新区",
    ]


def test_the_atom_feed_of_a_district_has_the_notices_the_index_shows_for_it(client, notices):
    url = f"/notices/feed.atom?district={quote('浦东新区')}"
    feed = atom(client, url)

    assert entry_titles(feed) == ["张江线路抢修", "浦东新区计划停电检修通知"]  # one by its feeder
    index = NoticeIndexPage.objects.get()
    assert entry_titles(feed) == [n.title for n in index.notices(district="浦东新区")]
    assert "浦东新区" in feed.findtext(f"{ATOM}title")
    assert feed.find(f"{ATOM}link[@rel='self']").get("href") == f"http://testserver{url}"
    assert entry_titles(atom(client, f"/notices/feed.atom?district={quote('徐汇区')}")) == []


def test_the_calendar_has_each_planned_outage_as_an_event_in_utc(client, notices):
    cal = calendar(client)

    assert cal["VERSION"] == "2.0" and cal["PRODID"]
    assert cal["X-WR-CALNAME"] == "计划停电"
    events = cal.walk("VEVENT")
    assert [str(event["SUMMARY"]) for event in events] == [
        "浦东新区计划停电检修通知",
        "静安区计划停电",
    ]  # soonest first; no fault, no general notice, no draft
    pudong = events[0]
    notice = notices["浦东新区计划停电检修通知"]
    assert pudong.decoded("DTSTART") == beijing(2026, 12, 20, 8, 0)
    assert pudong.decoded("DTEND") == beijing(2026, 12, 20, 17, 30)
    assert pudong["DTSTART"].to_ical() == b"20261220T000000Z"  # in UTC
    assert pudong["DTEND"].to_ical() == b"20261220T093000Z"
    assert str(pudong["UID"]) == str(notice.translation_key)
    assert str(pudong["LOCATION"]) == "浦东新区"
    assert str(pudong["URL"]) == f"http://testserver{notice.url}"
    description = str(pudong["DESCRIPTION"])
    assert "线路检修" in description and "届时张江镇部分用户将暂停供电" in description
    assert f"http://testserver{notice.url}" in description
    assert pudong.decoded("LAST-MODIFIED") == beijing(2026, 12, 1, 9, 0)
    assert pudong["SEQUENCE"] == 0

    jingan = calendar(client, f"/notices/outages.ics?district={quote('静安区')}")
    assert [str(event["SUMMARY"]) for event in jingan.walk("VEVENT")] == ["静安区计划停电"]
    assert "静安区" in str(jingan["X-WR-CALNAME"])


def test_a_changed_time_updates_the_same_event(client, notices):
    notice = notices["浦东新区计划停电检修通知"]
    before = calendar(client).walk("VEVENT")[0]

    with time_machine.travel(beijing(2026, 12, 4, 15, 0), tick=False):
        notice.starts_at = beijing(2026, 12, 21, 8, 0)
        notice.ends_at = beijing(2026, 12, 21, 12, 0)
        notice.save_revision().publish()
    events = [e for e in calendar(client).walk("VEVENT") if str(e["UID"]) == str(before["UID"])]

    assert len(events) == 1  # the calendar updates the event it has: no second one
    after = events[0]
    assert after.decoded("DTSTART") == beijing(2026, 12, 21, 8, 0)
    assert after.decoded("DTEND") == beijing(2026, 12, 21, 12, 0)
    assert after["SEQUENCE"] > before["SEQUENCE"]
    assert after.decoded("LAST-MODIFIED") == beijing(2026, 12, 4, 15, 0)
    assert after.decoded("DTSTAMP") == beijing(2026, 12, 4, 15, 0)


def test_an_unpublished_outage_leaves_the_calendar_and_the_feed(client, notices):
    notice = notices["静安区计划停电"]
    with time_machine.travel(beijing(2026, 12, 4, 16, 0), tick=False):
        notice.unpublish()

    assert [str(e["SUMMARY"]) for e in calendar(client).walk("VEVENT")] == [
        "浦东新区计划停电检修通知"
    ]
    assert "静安区计划停电" not in entry_titles(atom(client))


def test_an_outage_long_over_leaves_the_calendar(client, notices):
    with time_machine.travel(beijing(2027, 1, 21, 10, 0), tick=False):
        response = client.get("/notices/outages.ics")
    titles = [str(e["SUMMARY"]) for e in Calendar.from_ical(response.content).walk("VEVENT")]
    assert titles == ["静安区计划停电"]  # ended 22 December: kept 30 days; 20 December's is gone


@pytest.mark.parametrize("url", ["/notices/feed.atom", "/notices/outages.ics"])
def test_the_feeds_answer_conditional_requests(client, notices, url):
    first = read(client, url)
    assert first["ETag"] and first["Last-Modified"] == "Fri, 04 Dec 2026 16:00:00 GMT"
    assert "public" in first["Cache-Control"]

    assert read(client, url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    assert read(client, url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304

    with time_machine.travel(beijing(2026, 12, 5, 9, 30), tick=False):
        notices["静安区计划停电"].unpublish()
    again = read(client, url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 200 and again["ETag"] != first["ETag"]


def test_the_notice_index_offers_its_feeds_for_the_district_chosen(client, notices):
    page = read(client, f"/notices/?district={quote('浦东新区')}", HTTP_ACCEPT_LANGUAGE="en")
    page = page.content.decode()

    district = quote("浦东新区", safe="")
    assert 'type="application/atom+xml" title="Notices" href="/notices/feed.atom"' in page
    assert f'href="/notices/feed.atom?district={district}"' in page
    assert f'href="webcal://testserver/notices/outages.ics?district={district}"' in page
    assert f"http://testserver/notices/outages.ics?district={district}" in page
    assert "Planned outages in 浦东新区 in your calendar" in page

    everything = read(client, "/notices/").content.decode()
    assert 'href="webcal://testserver/notices/outages.ics"' in everything


def test_a_notice_page_is_still_served_beside_the_feeds(client, notices):
    notice = notices["浦东新区计划停电检修通知"]
    assert read(client, notice.url).status_code == 200
