"""The demo site (cms/demo.py, run at the end of `manage.py seed_demo`): a dozen notices across the
demo districts, two planned outages that reach the demo resident (their dashboard shows them,
and they are told), one notice waiting for the reviewer, guides, an FAQ and standard pages, and
English translations of the main ones; made once, published through revisions (so search finds
them), and kept showing outages to come."""

import contextlib
import io
import logging
from dataclasses import dataclass
from datetime import timedelta

import pytest
import time_machine
from bs4 import BeautifulSoup
from django.core import mail
from django.core.management import call_command
from django.test import Client, TestCase
from wagtail.models import Locale, Page, Revision, WorkflowState

from cms.demo import NOTICES, seed_cms
from cms.models import FaqPage, GuidePage, NoticeKind, NoticePage, StandardPage
from portal.models import Notification, User
from portal.roles import EDITORIAL_WORKFLOW
from tests.cms.notices import beijing
from tests.db_state import made_once

pytestmark = pytest.mark.django_db

RESIDENT, BUSINESS_ADMIN, MEMBER = (
    "resident@demo.powerhall.cn",
    "bizadmin@demo.powerhall.cn",
    "member@demo.powerhall.cn",
)
NOW = beijing(2026, 12, 7, 9, 0)
CHINESE = {"locale__language_code": "zh-hans"}
NOT_TRANSLATED = "This page is not available in English yet; here is the Chinese version."
HOME_OUTAGE, PARENTS_OUTAGE = (
    "朝阳区望京西园一带计划停电检修通知",
    "西城区百万庄地区临时计划停电通知",
)


def html(client, url: str) -> BeautifulSoup:
    response = client.get(url)
    assert response.status_code == 200, url
    return BeautifulSoup(response.content, "html.parser")


def text(soup) -> str:
    return " ".join(soup.get_text(" ").split())


def counts() -> tuple[int, ...]:
    return (
        Page.objects.count(),
        Revision.objects.count(),
        WorkflowState.objects.count(),
        Notification.objects.count(),
    )


def dashboard_outages(client, email: str) -> list[str]:
    client.force_login(User.objects.get(email=email))
    page = html(client, "/me/")
    client.logout()
    return [a.get_text(strip=True) for a in page.select("main .account-card__outage a")]


@dataclass(frozen=True)
class Seeded:
    """What ``seed_demo`` printed (to its output, and anything written past it to the process's
    stdout and stderr), logged at WARNING or above, and e-mailed."""

    out: str
    stray: str
    stderr: str
    alarming: list[str]
    mail: list


class _Alarming(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker, tmp_path_factory):
    """``seed_demo`` run at NOW, once for the module's tests (it takes seconds; tests/db_state.py,
    ``made_once``), with what it leaves for after its commits (the fan-out of the outages it
    publishes, the messages' delivery) run too, as they are on `make run`."""
    files = tmp_path_factory.mktemp("demo")
    alarming, stray, stderr = _Alarming(), io.StringIO(), io.StringIO()
    root = logging.getLogger()
    with made_once(django_db_blocker, files):
        root.addHandler(alarming)
        mail.outbox = []
        try:
            with (
                time_machine.travel(NOW, tick=False),
                TestCase.captureOnCommitCallbacks(execute=True),
                contextlib.redirect_stdout(stray),
                contextlib.redirect_stderr(stderr),
            ):
                out = io.StringIO()
                call_command("seed_demo", stdout=out)
        finally:
            root.removeHandler(alarming)
        yield Seeded(
            out.getvalue(), stray.getvalue(), stderr.getvalue(), alarming.lines, list(mail.outbox)
        )


def test_seed_demo_prints_progress_and_the_logins_and_nothing_alarming(seeded):
    """First impressions (issue 21): `make run` on a fresh clone loads the demo and prints the
    logins with nothing on the way that looks broken: no traceback, no warning or error logged,
    whatever the demo's own work sets off (the messages it sends, the tasks its pages enqueue)."""
    assert "seed_demo bills: 384 imported, 0 unchanged, 0 rejected" in seeded.out
    assert "powerhall demo logins (password for all: Powerhall-Demo-2026)" in seeded.out
    for login in ("resident@", "bizadmin@", "editor@", "staff@", "member@", "reviewer@"):
        assert f"{login}demo.powerhall.cn" in seeded.out
    assert seeded.alarming == []
    assert "Traceback" not in seeded.out + seeded.stray + seeded.stderr
    assert seeded.stderr == ""


def test_seed_demo_loads_the_demo_site_once(seeded, client):
    made = "demo content: 13 notices and 8 pages made, 13 translated into English"
    assert seeded.out.count(made) == 1
    live = NoticePage.objects.live().filter(**CHINESE)
    assert live.count() == 12
    assert {notice.kind for notice in live} == set(NoticeKind.values)
    assert {d for notice in live for d in notice.districts} == {
        "朝阳区",
        "西城区",
        "海淀区",
        "丰台区",
        "东城区",
    }
    # Published through revisions, by the demo editor's draft and the demo reviewer's approval.
    for notice in live:
        revision = notice.live_revision
        assert revision is not None and revision.user.email == "editor@demo.powerhall.cn"
    waiting = NoticePage.objects.get(live=False, **CHINESE)
    assert waiting.current_workflow_state.workflow.name == EDITORIAL_WORKFLOW
    # The one announced late carries its reason, and is flagged.
    late = live.get(title=PARENTS_OUTAGE)
    assert late.short_notice and late.short_notice_reason
    assert not live.filter(short_notice=True).exclude(pk=late.pk).exists()
    # The guides section, its guides and FAQ, and the standard pages.
    assert set(GuidePage.objects.live().filter(**CHINESE).values_list("url_path", flat=True)) == {
        "/home/guides/new-connection/",
        "/home/guides/how-to-pay/",
        "/home/guides/bind-account/",
    }
    faq = FaqPage.objects.live().get(**CHINESE)
    assert 6 <= sum(block.block_type == "question" for block in faq.body) <= 8
    assert set(StandardPage.objects.live().filter(**CHINESE).values_list("slug", flat=True)) == {
        "guides",
        "about",
        "service-channels",
    }

    before = counts()
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        again = io.StringIO()
        call_command("seed_demo", stdout=again)
    assert counts() == before
    assert "demo content" not in again.getvalue()


TRANSLATED = {
    "/": "Online business hall",
    "/notices/": "Notices",
    "/notices/wangjing-112-maintenance/": (
        "Planned outage for maintenance around Wangjing Xiyuan, Chaoyang District"
    ),
    "/notices/zhanlanlu-205-cable-relocation/": (
        "Temporary planned outage in the Baiwanzhuang area, Xicheng District"
    ),
    "/notices/fraud-warning/": "Beware of fraudsters posing as power supply company staff",
    "/guides/": "Service guide",
    "/guides/new-connection/": "How to apply for a new connection",
    "/guides/how-to-pay/": "How to pay your electricity bill",
    "/guides/bind-account/": "How to bind an electricity account",
    "/guides/faq/": "Frequently asked questions",
    "/commitments/": "Service commitments",
    "/tariffs/": "Tariffs",
}


def test_an_english_visitor_reads_the_translated_demo_pages_in_english(seeded):
    english = Client(HTTP_ACCEPT_LANGUAGE="en")
    for url, title in TRANSLATED.items():
        page = html(english, url)
        assert page.h1.get_text(strip=True) == title, url
        assert NOT_TRANSLATED not in text(page), url
    # The home page's tiles and the notices list, in English where translated.
    tiles = [t.get_text(strip=True) for t in html(english, "/").select(".tile__title")]
    assert "Pay your bills" in tiles and "Service guide" in tiles
    with time_machine.travel(NOW, tick=False):
        listed = [
            a.get_text(strip=True)
            for a in html(english, "/notices/").select("main ul.notice-list > li a")
        ]
    assert listed[:2] == [
        TRANSLATED["/notices/zhanlanlu-205-cable-relocation/"],
        TRANSLATED["/notices/wangjing-112-maintenance/"],
    ]
    assert "关于营业厅周末服务时间的通知" in listed  # not translated
    # A page without a translation: the Chinese one, saying so.
    about = html(english, "/about/")
    assert about.h1.get_text(strip=True) == "关于我们" and NOT_TRANSLATED in text(about)
    # A Chinese visitor still reads Chinese.
    chinese = Client(HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert html(chinese, "/guides/faq/").h1.get_text(strip=True) == "常见问题"


def test_seeding_again_translates_nothing_twice_and_leaves_an_english_draft_alone(seeded):
    english = Locale.objects.get(language_code="en")
    translated = Page.objects.filter(locale=english)
    assert translated.count() == 13
    assert translated.filter(live=True).count() == 13
    faq = FaqPage.objects.get(locale=english)
    faq.title = "FAQ (being rewritten)"
    faq.save_revision()  # someone's draft

    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        again = io.StringIO()
        call_command("seed_demo", stdout=again)

    assert "demo content" not in again.getvalue()
    assert translated.count() == 13
    assert len(set(translated.values_list("translation_key", flat=True))) == 13
    faq.refresh_from_db()
    assert faq.has_unpublished_changes and faq.title == "Frequently asked questions"


def test_the_demo_pages_open_and_the_guides_tile_leads_to_them(seeded, client):
    tiles = {
        a.select_one(".tile__title").get_text(): a["href"]
        for a in html(client, "/").select(".tile__link")
    }
    assert tiles["服务指南"] == "/guides/"
    guides = text(html(client, "/guides/"))
    for title in ("新装用电办理指南", "如何缴纳电费", "如何绑定用电户号", "常见问题"):
        assert title in guides
    # The new connection guide lists what the application asks, residential and business alike.
    connection = text(html(client, "/guides/new-connection/"))
    assert "居民" in connection and "营业执照" in connection
    for url in ("/guides/how-to-pay/", "/guides/bind-account/", "/guides/faq/", "/about/"):
        html(client, url)
    assert "95598" in text(html(client, "/service-channels/"))


def test_the_notices_page_lists_a_dozen_notices(seeded, client):
    with time_machine.travel(NOW, tick=False):
        listed = html(client, "/notices/").select("main ul.notice-list > li a")
    titles = [a.get_text(strip=True) for a in listed]
    assert len(titles) == 12
    assert titles[:2] == [PARENTS_OUTAGE, HOME_OUTAGE]  # the newest first
    assert "海淀区示例产业园计划停电通知" not in titles  # still waiting for the reviewer


def test_search_finds_a_demo_notice_by_a_chinese_word(seeded, client):
    found = html(client, "/search/?q=百万庄")
    assert PARENTS_OUTAGE in text(found)
    assert "诈骗" in text(html(client, "/search/?q=诈骗"))


def test_the_demo_resident_sees_and_is_told_of_the_two_outages_and_nobody_else_is(seeded, client):
    with time_machine.travel(NOW, tick=False):
        assert sorted(dashboard_outages(client, RESIDENT)) == sorted([HOME_OUTAGE, PARENTS_OUTAGE])
        assert dashboard_outages(client, BUSINESS_ADMIN) == []
    told = [m for m in seeded.mail if m.subject.startswith("计划停电")]
    assert sorted(m.to[0] for m in told) == [RESIDENT, RESIDENT]
    for title in (HOME_OUTAGE, PARENTS_OUTAGE):
        assert any(title in m.body for m in told)
    outages = Notification.objects.filter(kind="outage")
    assert set(outages.values_list("user__email", flat=True)) == {RESIDENT}


def test_the_outages_reaching_the_resident_come_round_again_once_over(
    seeded, client, mailoutbox, django_capture_on_commit_callbacks
):
    later = NOW + timedelta(days=30)
    pages = Page.objects.count()
    with time_machine.travel(later, tick=False):
        assert dashboard_outages(client, RESIDENT) == []  # both over
        out = io.StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            seed_cms(stdout=out)
        assert "2 outages moved forward" in out.getvalue()
        assert sorted(dashboard_outages(client, RESIDENT)) == sorted([HOME_OUTAGE, PARENTS_OUTAGE])
        seed_cms(stdout=io.StringIO())  # not over now: left alone
    assert Page.objects.count() == pages
    ahead = {spec.title: spec for spec in NOTICES if spec.keep_ahead}
    for notice in NoticePage.objects.live().filter(title__in=ahead):
        assert notice.starts_at > later
        assert notice.revisions.count() == 2
        # Its English translation has the new times too.
        english = notice.get_translation(Locale.objects.get(language_code="en"))
        assert english.live and english.starts_at == notice.starts_at
    # The resident hears of the new dates, as of any changed outage.
    changed = [m for m in mailoutbox if m.to == [RESIDENT] and m.subject.startswith("变更")]
    assert len(changed) == 2, [m.subject for m in mailoutbox]
