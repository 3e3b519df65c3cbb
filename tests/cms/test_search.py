"""Site search (/search/) finds Chinese words inside titles and bodies on whichever database the
suite runs on (SQLite here, PostgreSQL with DATABASE_URL): neither database splits Chinese into
words by itself, cms.search does. Only live, public pages are found; drafts never leak."""

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.utils import translation
from wagtail.search.backends import get_search_backend

from cms.models import NoticeIndexPage, NoticeKind, NoticePage
from tests.cms.notices import beijing, notice_publish
from tests.factories import ServiceAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _pinned():
    ServiceAccountFactory(district="浦东新区", feeder="张江 10kV 1号线")
    with time_machine.travel(beijing(2026, 12, 1, 9, 0), tick=False):
        yield


@pytest.fixture
def outage():
    return notice_publish(
        title="浦东新区计划停电检修通知",
        districts=["浦东新区"],
        starts_at=beijing(2026, 12, 20, 8, 0),
        ends_at=beijing(2026, 12, 20, 17, 30),
        reason="线路检修",
        body="<p>届时张江镇部分用户将暂停供电，请提前做好准备。</p>",
    )


def search(client, query, **params):
    response = client.get("/search/", {"q": query, **params}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return response.content.decode()


def test_the_search_backend_cuts_chinese_on_this_database():
    backend = get_search_backend()
    expected = {"sqlite": "SQLiteSearchBackend", "postgresql": "PostgresSearchBackend"}
    assert type(backend).__module__ == "cms.search"
    assert type(backend).__name__ == expected[connection.vendor]


@pytest.mark.parametrize(
    "query",
    [
        "停电",  # words inside the title
        "检修",
        "浦东",
        "浦东新区",
        "计划停电",
        "供电",  # words inside the body
        "准备",
        "张江",  # inside 张江镇, a place the dictionary does not know
        "张江镇",
        "线路检修",  # the reason
        "浦东 供电",  # two words, from the title and the body
    ],
)
def test_a_chinese_word_finds_the_notice(client, outage, query):
    page = search(client, query)
    assert f'href="{outage.url}"' in page
    assert "1 page found" in page


@pytest.mark.parametrize("query", ["停水", "静安", "浦东 停水", "东新"])
def test_words_the_notice_does_not_have_find_nothing(client, outage, query):
    page = search(client, query)
    assert outage.url not in page
    assert "Nothing found" in page


def test_english_words_are_still_found(client):
    notice = notice_publish(
        title="Planned maintenance in Pudong",
        districts=["浦东新区"],
        starts_at=beijing(2026, 12, 20, 8, 0),
        ends_at=beijing(2026, 12, 20, 17, 30),
        body="<p>Supply will be interrupted in Zhangjiang town.</p>",
    )
    assert notice.url in search(client, "maintenance")
    assert notice.url in search(client, "Zhangjiang")


def test_an_unpublished_notice_is_not_found(client, outage):
    outage.unpublish()
    page = search(client, "停电")
    assert outage.url not in page and "Nothing found" in page


def test_draft_content_never_leaks(client, outage):
    index = NoticeIndexPage.objects.get()
    never_published = index.add_child(
        instance=NoticePage(title="草稿：静安区停电", kind=NoticeKind.GENERAL, live=False)
    )
    # The live outage gets a newer draft with another title and body, not published.
    outage.title = "更正：闵行区停电"
    outage.body = "<p>莘庄镇用户请注意。</p>"
    outage.save_revision()

    for query in ("静安", "闵行", "莘庄", "更正"):
        assert "Nothing found" in search(client, query), query
    page = search(client, "停电")
    assert "浦东新区计划停电检修通知" in page and "闵行" not in page
    assert never_published.title not in page


def test_results_are_paginated(client):
    for n in range(12):
        notice_publish(title=f"第{n + 1}号营业厅停电公告", kind=NoticeKind.GENERAL)

    first, second = search(client, "营业厅"), search(client, "营业厅", page=2)

    assert "12 pages found" in first
    assert first.count("营业厅停电公告</strong>") == 10
    assert second.count("营业厅停电公告</strong>") == 2
    assert 'rel="next"' in first and 'rel="prev"' in second


def test_the_search_page_without_a_query_asks_for_one(client):
    response = client.get("/search/", HTTP_ACCEPT_LANGUAGE="en")
    page = response.content.decode()
    assert response.status_code == 200
    assert 'type="search" name="q"' in page and "found" not in page
    assert 'for="search-query">Search notices, guides and other pages' in page


def test_pages_of_every_type_are_found_after_the_index_is_rebuilt(client, outage):
    call_command("update_index", verbosity=0)  # as after a deployment that changes the backend

    index = NoticeIndexPage.objects.get()
    assert f'href="{outage.url}"' in search(client, "暂停供电")
    assert f'href="{index.url}"' in search(client, index.title[:2])
