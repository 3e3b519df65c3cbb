"""Content in Chinese and English (docs/cms.md, "Languages"): a visitor reading English gets a
page's English translation at the same address, or the Chinese page saying it is not translated
yet; lists, search and feeds show each notice once, in English where it is translated; a
Chinese visitor never sees English; a draft translation is never served; a translation keeps
its Chinese notice's times, places and address; editors translate through the same review."""

from urllib.parse import quote

import pytest
import time_machine
from bs4 import BeautifulSoup
from defusedxml import ElementTree
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from icalendar import Calendar
from wagtail.models import Locale, Page, Site
from wagtail.test.utils.form_data import querydict_from_html

from cms.models import GuidePage, HomePage, NoticeIndexPage, NoticeKind, NoticePage, StandardPage
from portal.models import Notification, NotificationKind
from portal.roles import EDITORS, REVIEWERS, roles_ensure
from tests.cms.notices import beijing
from tests.factories import (
    PASSWORD,
    BindingFactory,
    PhoneUserFactory,
    ServiceAccountFactory,
    StaffUserFactory,
    UserFactory,
    totp_enrol,
)

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
NOT_TRANSLATED = "This page is not available in English yet; here is the Chinese version."
PUDONG, ZHANGJIANG = "浦东新区", "张江 10kV 1号线"
JINGAN = "静安区"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(beijing(2026, 12, 1, 9, 0), tick=False):
        yield


@pytest.fixture(autouse=True)
def places():
    ServiceAccountFactory(district=PUDONG, feeder=ZHANGJIANG)
    ServiceAccountFactory(district=JINGAN, feeder="静安 10kV 3号线")


@pytest.fixture
def english():
    """A visitor whose browser asks for English."""
    return Client(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def chinese():
    """A visitor whose browser asks for Chinese."""
    return Client(HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")


def en() -> Locale:
    return Locale.objects.get(language_code="en")


def chinese_index() -> NoticeIndexPage:
    return NoticeIndexPage.objects.get(locale__language_code="zh-hans")


def publish_notice(title: str, *, kind=NoticeKind.PLANNED_OUTAGE, **fields) -> NoticePage:
    """A Chinese notice, published as the admin does."""
    fields.setdefault("districts", [PUDONG])
    if kind == NoticeKind.PLANNED_OUTAGE:
        fields.setdefault("starts_at", beijing(2026, 12, 20, 8, 0))
        fields.setdefault("ends_at", beijing(2026, 12, 20, 17, 0))
    page = chinese_index().add_child(
        instance=NoticePage(title=title, kind=kind, live=False, **fields)
    )
    page.full_clean()
    page.save_revision().publish()
    page.refresh_from_db()
    return page


def translate(page: Page, *, publish: bool = True, **changes) -> Page:
    """The page's English translation as "Translate" makes it (a draft copy under the English
    parent), with ``changes`` as the translator writes them, published or left as a draft."""
    copy = page.specific.copy_for_translation(en())
    for name, value in changes.items():
        setattr(copy, name, value)
    copy.full_clean()
    revision = copy.save_revision()
    if publish:
        revision.publish()
    copy.refresh_from_db()
    return copy


@pytest.fixture
def english_tree():
    """The English home page and notice index, translated and published."""
    home = Site.objects.get(is_default_site=True).root_page.specific
    english_home = translate(home, title="Online business hall")
    english_index = translate(chinese_index(), title="Notices")
    return english_home, english_index


def html(response) -> BeautifulSoup:
    assert response.status_code == 200, response.status_code
    return BeautifulSoup(response.content.decode(), "html.parser")


def titles(page: BeautifulSoup) -> list[str]:
    return [link.get_text(strip=True) for link in page.select(".notice-list li > a")]


# --- One address, the visitor's language ---------------------------------------------------------
def test_an_english_visitor_gets_the_english_translation_at_the_same_address(
    english_tree, english, chinese
):
    notice = publish_notice("浦东新区计划停电", reason="线路检修")
    translated = translate(notice, title="Planned outage in Pudong", reason="Line maintenance")

    assert translated.url == notice.url and notice.url.startswith("/notices/")
    assert english_tree[1].url == chinese_index().url == "/notices/"
    assert english_tree[0].url == "/"

    read_in_english = html(english.get(notice.url))
    assert read_in_english.h1.get_text(strip=True) == "Planned outage in Pudong"
    assert "Line maintenance" in read_in_english.get_text()
    assert NOT_TRANSLATED not in read_in_english.get_text()
    assert read_in_english.main.get("lang") is None  # the page's own language, English
    # Its facts are the Chinese notice's.
    assert "2026-12-20 08:00" in read_in_english.get_text()

    read_in_chinese = html(chinese.get(notice.url))
    assert read_in_chinese.h1.get_text(strip=True) == "浦东新区计划停电"
    assert "Planned outage" not in read_in_chinese.get_text()

    assert html(english.get("/")).select_one(".hero__title").get_text() == "Online business hall"
    assert html(chinese.get("/")).select_one(".hero__title").get_text() == "网上营业厅"


def test_the_language_switch_changes_the_page_at_the_same_address(english_tree, chinese):
    notice = publish_notice("浦东新区计划停电")
    translate(notice, title="Planned outage in Pudong")
    assert html(chinese.get(notice.url)).h1.get_text(strip=True) == "浦东新区计划停电"

    switched = chinese.post(reverse("set_language"), {"language": "en", "next": notice.url})

    assert switched.status_code == 302 and switched["Location"] == notice.url
    assert html(chinese.get(notice.url)).h1.get_text(strip=True) == "Planned outage in Pudong"


def test_a_page_not_translated_shows_the_chinese_one_and_says_so(english, chinese):
    notice = publish_notice("浦东新区计划停电")

    page = html(english.get(notice.url))

    assert page.h1.get_text(strip=True) == "浦东新区计划停电"
    banner = page.main.select_one('[role="note"]')
    assert banner.get_text(strip=True) == NOT_TRANSLATED
    # Screen readers read the content as Chinese, the notice as English.
    assert page.main["lang"] == "zh-hans"
    assert banner.find_parent(lang=True)["lang"] == "en"
    # The rest of the site is still in English around it.
    assert page.html["lang"] == "en"

    in_chinese = html(chinese.get(notice.url))
    assert NOT_TRANSLATED not in in_chinese.get_text() and in_chinese.main.get("lang") is None


def test_a_draft_translation_is_not_served(english_tree, english):
    notice = publish_notice("浦东新区计划停电")
    translate(notice, publish=False, title="Planned outage in Pudong (draft)")

    page = html(english.get(notice.url))

    assert page.h1.get_text(strip=True) == "浦东新区计划停电"
    assert NOT_TRANSLATED in page.get_text()
    assert "(draft)" not in html(english.get("/notices/")).get_text()


def test_an_unpublished_chinese_page_is_gone_in_both_languages(english_tree, english):
    notice = publish_notice("浦东新区计划停电")
    translated = translate(notice, title="Planned outage in Pudong")
    url = notice.url

    notice.unpublish()

    assert english.get(url).status_code == 404
    assert "Planned outage in Pudong" not in html(english.get("/notices/")).get_text()
    translated.refresh_from_db()
    assert not translated.live  # nor on any dashboard

    # Deleted, the same.
    deleted = publish_notice("静安区计划停电", districts=[JINGAN])
    kept = translate(deleted, title="Planned outage in Jing'an")
    deleted.delete()
    kept.refresh_from_db()
    assert not kept.live


# --- Lists follow the language -------------------------------------------------------------------
@pytest.fixture
def three_notices(english_tree):
    """Three notices, newest last: the first translated, the second translated but only as a
    draft, the third not translated."""
    first = publish_notice("浦东新区计划停电", reason="线路检修")
    with time_machine.travel(beijing(2026, 12, 1, 10, 0), tick=False):
        second = publish_notice("静安区计划停电", districts=[JINGAN])
    with time_machine.travel(beijing(2026, 12, 1, 11, 0), tick=False):
        third = publish_notice(
            "张江线路抢修",
            kind=NoticeKind.FAULT_OUTAGE,
            feeders=[ZHANGJIANG],
            starts_at=beijing(2026, 12, 1, 10, 30),
        )
    translate(first, title="Planned outage in Pudong", reason="Line maintenance")
    translate(second, publish=False, title="Planned outage in Jing'an")
    return first, second, third


def test_the_notice_index_in_english_shows_each_notice_once_in_english_where_translated(
    three_notices, english
):
    page = html(english.get("/notices/"))

    assert titles(page) == ["张江线路抢修", "静安区计划停电", "Planned outage in Pudong"]
    links = page.select(".notice-list li > a")
    assert [link["lang"] for link in links] == ["zh-hans", "zh-hans", "en"]
    assert [link["href"] for link in links] == [notice.url for notice in reversed(three_notices)]
    assert page.h1.get_text(strip=True) == "Notices"  # the index itself is translated

    by_district = html(english.get(f"/notices/?district={quote(PUDONG)}"))
    assert titles(by_district) == ["张江线路抢修", "Planned outage in Pudong"]
    outages = html(english.get("/notices/?kind=planned_outage"))
    assert titles(outages) == ["静安区计划停电", "Planned outage in Pudong"]


def test_an_untranslated_index_still_lists_the_english_notices(english, chinese):
    home = Site.objects.get(is_default_site=True).root_page
    translate(home, title="Online business hall")
    translate(chinese_index(), publish=False, title="Notices")
    notice = publish_notice("浦东新区计划停电")
    translate(notice, title="Planned outage in Pudong")

    page = html(english.get("/notices/"))

    assert NOT_TRANSLATED in page.get_text() and page.main["lang"] == "zh-hans"
    assert titles(page) == ["Planned outage in Pudong"]
    assert page.select_one(".notice-list li > a")["lang"] == "en"


def test_a_chinese_visitor_never_sees_english(three_notices, chinese):
    for address in ("/", "/notices/", f"/notices/?district={quote(PUDONG)}"):
        page = html(chinese.get(address)).get_text()
        assert "Planned outage" not in page and "Line maintenance" not in page, address
    assert titles(html(chinese.get("/notices/"))) == [
        "张江线路抢修",
        "静安区计划停电",
        "浦东新区计划停电",
    ]


def test_the_home_pages_latest_notices_follow_the_language(three_notices, english, chinese):
    home = HomePage.objects.get(locale__language_code="zh-hans")
    home.body = [("latest_notices", {"heading": "", "count": 5})]
    home.save_revision().publish()
    english_home = HomePage.objects.get(locale=en())
    english_home.body = [("latest_notices", {"heading": "", "count": 5})]
    english_home.save_revision().publish()

    assert titles(html(english.get("/"))) == [
        "张江线路抢修",
        "静安区计划停电",
        "Planned outage in Pudong",
    ]
    assert titles(html(chinese.get("/"))) == ["张江线路抢修", "静安区计划停电", "浦东新区计划停电"]


def test_a_page_of_notices_costs_the_same_queries_however_many_are_translated(
    english_tree, english
):
    def queries() -> int:
        english.get("/notices/")  # the caches (site root paths, districts)
        with CaptureQueriesContext(connection) as context:
            assert english.get("/notices/").status_code == 200
        return len(context)

    for n in range(2):
        translate(publish_notice(f"第{n}号公告", kind=NoticeKind.GENERAL), title=f"Notice {n}")
    two = queries()
    for n in range(2, 8):
        translate(publish_notice(f"第{n}号公告", kind=NoticeKind.GENERAL), title=f"Notice {n}")
    publish_notice("未翻译的公告", kind=NoticeKind.GENERAL)

    assert queries() == two
    assert len(titles(html(english.get("/notices/")))) == 9


# --- Search and feeds ----------------------------------------------------------------------------
def search(client, query) -> BeautifulSoup:
    return html(client.get("/search/", {"q": query}))


def test_search_in_english_finds_each_page_once_in_english_where_translated(
    three_notices, english, chinese
):
    # A Chinese word in both the notice and (copied) in its translation's places: one result.
    found = search(english, "停电")
    assert titles(found) == ["Planned outage in Pudong", "静安区计划停电"] or titles(found) == [
        "静安区计划停电",
        "Planned outage in Pudong",
    ]
    assert "2 pages found" in found.get_text()
    # An English word only the translation has.
    assert titles(search(english, "maintenance")) == ["Planned outage in Pudong"]
    # A Chinese visitor searches the Chinese pages only.
    assert titles(search(chinese, "maintenance")) == []
    assert sorted(titles(search(chinese, "停电"))) == ["浦东新区计划停电", "静安区计划停电"]


def test_the_feeds_follow_the_language(three_notices, english, chinese):
    def atom(client) -> list[tuple[str, str]]:
        feed = ElementTree.fromstring(client.get("/notices/feed.atom").content)
        return [
            (entry.findtext(f"{ATOM}title"), entry.findtext(f"{ATOM}id"))
            for entry in feed.iter(f"{ATOM}entry")
        ]

    def calendar(client) -> dict[str, str]:
        parsed = Calendar.from_ical(client.get("/notices/outages.ics").content)
        return {str(event["uid"]): str(event["summary"]) for event in parsed.walk("VEVENT")}

    first, second, _third = three_notices
    in_english, in_chinese = atom(english), atom(chinese)
    assert [title for title, _ in in_english] == [
        "张江线路抢修",
        "静安区计划停电",
        "Planned outage in Pudong",
    ]
    assert [title for title, _ in in_chinese] == [
        "张江线路抢修",
        "静安区计划停电",
        "浦东新区计划停电",
    ]
    # The same entries in both languages.
    assert [entry_id for _, entry_id in in_english] == [entry_id for _, entry_id in in_chinese]

    assert calendar(english) == {
        str(first.translation_key): "Planned outage in Pudong",
        str(second.translation_key): "静安区计划停电",
    }
    assert calendar(chinese) == {
        str(first.translation_key): "浦东新区计划停电",
        str(second.translation_key): "静安区计划停电",
    }


# --- A translation keeps its Chinese page's facts and address ------------------------------------
def test_a_translation_keeps_the_times_places_and_address_of_its_chinese_notice(
    english_tree, english, django_capture_on_commit_callbacks
):
    notice = publish_notice("浦东新区计划停电", slug="pudong-outage")
    # The translator changes the time and the slug: the Chinese notice's stay.
    translated = translate(
        notice,
        title="Planned outage in Pudong",
        slug="pudong-power-cut",
        starts_at=beijing(2026, 12, 21, 8, 0),
        districts=[JINGAN],
    )
    assert translated.slug == "pudong-outage" and translated.url == notice.url
    assert (translated.starts_at, translated.districts) == (notice.starts_at, [PUDONG])

    # The Chinese notice moves its time and its address: the live translation follows.
    notice.starts_at = beijing(2026, 12, 20, 9, 0)
    notice.slug = "pudong-outage-changed"
    with django_capture_on_commit_callbacks(execute=True):
        notice.save_revision().publish()

    translated.refresh_from_db()
    assert translated.starts_at == beijing(2026, 12, 20, 9, 0)
    assert translated.url == "/notices/pudong-outage-changed/"
    page = html(english.get("/notices/pudong-outage-changed/"))
    assert page.h1.get_text(strip=True) == "Planned outage in Pudong"
    assert "2026-12-20 09:00" in page.get_text()


def test_a_translation_tells_nobody_and_later_changes_reach_each_in_their_language(
    english_tree, django_capture_on_commit_callbacks, mailoutbox
):
    reader_en = PhoneUserFactory(language="en")
    BindingFactory(user=reader_en, account=ServiceAccountFactory(district=PUDONG))
    reader_zh = UserFactory()
    BindingFactory(user=reader_zh, account=ServiceAccountFactory(district=PUDONG))

    with django_capture_on_commit_callbacks(execute=True):
        notice = publish_notice("浦东新区计划停电", reason="线路检修")
    told = Notification.objects.filter(kind=NotificationKind.OUTAGE, channel="email")
    assert told.count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        translate(notice, title="Planned outage in Pudong", reason="Line maintenance")
    assert told.count() == 2  # the same outage: nobody is told again

    mailoutbox.clear()
    notice.ends_at = beijing(2026, 12, 20, 18, 0)
    with django_capture_on_commit_callbacks(execute=True):
        notice.save_revision().publish()

    assert told.count() == 4
    (to_en,) = [mail for mail in mailoutbox if reader_en.email in mail.to]
    (to_zh,) = [mail for mail in mailoutbox if reader_zh.email in mail.to]
    assert "Planned outage in Pudong" in to_en.body and "Line maintenance" in to_en.body
    assert "浦东新区计划停电" in to_zh.body and "Planned" not in to_zh.body


# --- Editors -------------------------------------------------------------------------------------
@pytest.fixture
def sign_in(totp_code):
    """``sign_in(role)``: a browser of a new member of ``role``, signed in to the back office."""
    roles = roles_ensure()

    def open_as(role: str) -> Client:
        user = StaffUserFactory()
        user.groups.add(roles[role])
        secret = totp_enrol(user)
        browser = Client(HTTP_ACCEPT_LANGUAGE="en")
        browser.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
        browser.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
        return browser

    return open_as


def test_an_editor_translates_and_a_reviewer_approves_the_translation(sign_in, english):
    notice = publish_notice("浦东新区计划停电", reason="线路检修")
    editor, reviewer = sign_in(EDITORS), sign_in(REVIEWERS)
    home = Site.objects.get(is_default_site=True).root_page

    def translate_in_admin(page):
        url = reverse("simple_translation:submit_page_translation", args=[page.pk])
        assert editor.get(url).status_code == 200
        response = editor.post(url, {"locales": [en().pk]})
        assert response.status_code == 302, response.content.decode()[:2000]

    # "Translate" on the home page, then on the notice index: English drafts the editor may edit.
    translate_in_admin(home)
    translate_in_admin(chinese_index())
    translate_in_admin(notice)
    translated = NoticePage.objects.get(locale=en())
    assert not translated.live
    edit_url = reverse("wagtailadmin_pages:edit", args=[translated.pk])
    # The Chinese notice's editor links to its English translation (the locale switcher).
    chinese_edit = editor.get(reverse("wagtailadmin_pages:edit", args=[notice.pk]))
    assert f'href="{edit_url}"' in chinese_edit.content.decode()

    form = editor.get(edit_url)
    assert form.status_code == 200
    data = querydict_from_html(form.content.decode(), form_id="page-edit-form")
    data["title"] = "Planned outage in Pudong"
    data["reason"] = "Line maintenance"
    data["action-submit"] = "Submit to Editorial review"
    assert editor.post(edit_url, data).status_code == 302

    translated.refresh_from_db()
    assert not translated.live
    assert translated.current_workflow_state.workflow.name == "Editorial review"
    assert html(english.get(notice.url)).h1.get_text(strip=True) == "浦东新区计划停电"

    state = translated.current_workflow_state.current_task_state
    reviewer.post(
        reverse("wagtailadmin_pages:workflow_action", args=[translated.pk, "approve", state.pk]),
        {"comment": ""},
    )

    translated.refresh_from_db()
    assert translated.live and translated.url == notice.url
    page = html(english.get(notice.url))
    assert page.h1.get_text(strip=True) == "Planned outage in Pudong"
    assert "Line maintenance" in page.get_text()


SHARED = ("kind", "starts_at", "ends_at", "districts", "feeders", "short_notice_reason")


def test_on_an_english_notice_the_chinese_notices_facts_are_shown_but_not_editable(
    english_tree, sign_in
):
    notice = publish_notice("浦东新区计划停电", reason="线路检修")
    translated = translate(notice, publish=False, title="Planned outage in Pudong")
    editor = sign_in(EDITORS)

    def edit_form(page):
        response = editor.get(reverse("wagtailadmin_pages:edit", args=[page.pk]))
        assert response.status_code == 200
        return response.content.decode()

    form = BeautifulSoup(edit_form(translated), "html.parser")
    for name in SHARED:
        inputs = form.select(f'#page-edit-form [name="{name}"]')
        assert inputs and all(i.has_attr("disabled") for i in inputs), name
    for name in ("title", "reason"):
        assert not form.select_one(f'#page-edit-form [name="{name}"]').has_attr("disabled")
    assert "As the Chinese notice has it: change it there." in form.get_text()
    # The Chinese notice's own form is editable.
    chinese_form = BeautifulSoup(edit_form(notice), "html.parser")
    assert not chinese_form.select_one('#page-edit-form [name="starts_at"]').has_attr("disabled")

    # Changed values posted anyway change nothing; the translator's words are saved.
    data = querydict_from_html(str(form), form_id="page-edit-form")
    data["title"] = "Planned outage in Pudong (revised)"
    data["starts_at"] = "2026-12-25 08:00"
    data["ends_at"] = "2026-12-25 18:00"
    data.setlist("districts", [JINGAN])
    data["feeders"] = "静安 10kV 3号线"
    data["kind"] = NoticeKind.GENERAL
    response = editor.post(reverse("wagtailadmin_pages:edit", args=[translated.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]

    saved = NoticePage.objects.get(pk=translated.pk).get_latest_revision_as_object()
    assert saved.title == "Planned outage in Pudong (revised)"
    assert (saved.kind, saved.starts_at, saved.ends_at, saved.districts, saved.feeders) == (
        NoticeKind.PLANNED_OUTAGE,
        notice.starts_at,
        notice.ends_at,
        [PUDONG],
        [],
    )


def test_a_section_lists_its_pages_in_english_and_a_moved_page_keeps_one_address(
    english_tree, english
):
    home = HomePage.objects.get(locale__language_code="zh-hans")

    def publish(parent, page):
        parent.add_child(instance=page)
        page.save_revision().publish()
        page.refresh_from_db()
        return page

    services = publish(home, StandardPage(title="服务指南", slug="services"))
    about = publish(home, StandardPage(title="关于我们", slug="about"))
    transfer = publish(services, GuidePage(title="过户办理指南", slug="transfer"))
    publish(services, GuidePage(title="增容办理指南", slug="capacity"))
    translate(services, title="Services")
    english_about = translate(about, title="About us")
    english_transfer = translate(transfer, title="Changing the account holder")

    section = html(english.get("/services/"))
    assert section.h1.get_text(strip=True) == "Services"
    links = section.select(".link-list a")
    assert [(link.get_text(strip=True), link["lang"]) for link in links] == [
        ("Changing the account holder", "en"),
        ("增容办理指南", "zh-hans"),
    ]

    # An editor moves the Chinese guide to another section: its translation follows.
    transfer.move(about, pos="last-child")

    english_transfer.refresh_from_db()
    assert english_transfer.get_parent().pk == english_about.pk
    assert english_transfer.url == Page.objects.get(pk=transfer.pk).url == "/about/transfer/"
    page = html(english.get("/about/transfer/"))
    assert page.h1.get_text(strip=True) == "Changing the account holder"
