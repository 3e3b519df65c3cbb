"""The anonymous page cache (cms/page_cache.py): an anonymous visitor's second read of a public page
costs no query; whatever an editor publishes, unpublishes or changes is there on the next read;
signed-in people, the admin, other languages and other days never get someone else's page."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse
from wagtail.models import Site

from cms.models import NoticeIndexPage, NoticePage, ServiceSettings
from portal.core import clock
from tests.cms.notices import beijing, notice_publish
from tests.factories import ServiceAccountFactory, UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
HEADER = "X-Page-Cache"


@pytest.fixture(autouse=True)
def places():
    ServiceAccountFactory(district="浦东新区", feeder="张江 10kV 1号线")


def read(client, path, data=None, **extra):
    response = client.get(path, data, **extra)
    assert response.status_code == 200
    return response


def test_the_second_anonymous_read_comes_from_the_cache_without_a_query(
    client, django_assert_num_queries
):
    notice = notice_publish(title="春节营业时间调整", kind="general")

    first = read(client, notice.url)
    with django_assert_num_queries(0):
        second = read(client, notice.url)

    assert first[HEADER] == "miss" and second[HEADER] == "hit"
    assert second.content == first.content
    assert "春节营业时间调整" in second.content.decode()
    assert second["Content-Type"] == first["Content-Type"]
    assert second["X-Request-ID"] != first["X-Request-ID"]  # each answer its own request id


def test_a_published_change_shows_on_the_next_read(client):
    notice = notice_publish(title="春节营业时间调整", kind="general")
    read(client, "/notices/")
    assert read(client, "/notices/")[HEADER] == "hit"

    notice.title = "春节营业时间再调整"
    notice.save_revision().publish()
    notice_publish(title="元宵节营业时间", kind="general")

    page = read(client, "/notices/")
    assert page[HEADER] == "miss"
    assert "春节营业时间再调整" in page.content.decode()
    assert "元宵节营业时间" in page.content.decode()


def test_a_draft_changes_nothing_and_unpublishing_is_at_once_a_404(client):
    notice = notice_publish(title="春节营业时间调整", kind="general")
    read(client, notice.url)

    notice.title = "草稿：还没审核"
    notice.save_revision()
    assert "草稿：还没审核" not in read(client, notice.url).content.decode()

    notice.unpublish()
    assert client.get(notice.url).status_code == 404


def test_a_scheduled_publication_shows_when_the_scheduler_publishes_it(client):
    index = NoticeIndexPage.objects.get()
    page = index.add_child(instance=NoticePage(title="元旦营业安排", kind="general", live=False))
    go_live = clock.now() + timedelta(hours=1)
    page.go_live_at = go_live
    page.save_revision().publish()
    assert "元旦营业安排" not in read(client, "/notices/").content.decode()

    with time_machine.travel(go_live + timedelta(minutes=1)):
        from django.core.management import call_command

        call_command("publish_scheduled", verbosity=0)
        assert "元旦营业安排" in read(client, "/notices/").content.decode()


def test_a_new_hotline_in_the_site_settings_reaches_the_page_at_once(
    client, django_capture_on_commit_callbacks
):
    read(client, "/")
    site = Site.objects.get(is_default_site=True)
    with django_capture_on_commit_callbacks(execute=True):
        ServiceSettings.objects.update_or_create(site=site, defaults={"hotline": "95598-1234"})

    assert "95598-1234" in read(client, "/").content.decode()


def test_signed_in_people_and_the_admin_never_get_a_cached_page(client):
    read(client, "/")
    person = UserFactory(name="王小明")
    signed_in = Client()
    signed_in.force_login(person)

    page = signed_in.get("/")

    assert HEADER not in page
    assert "王小明" in page.content.decode()
    assert HEADER not in client.get("/cms-admin/login/")
    assert HEADER not in client.get(reverse("account_login"))


def test_a_visitor_with_messages_to_see_is_not_served_from_the_cache(client):
    read(client, "/")
    client.cookies["messages"] = "anything"
    assert HEADER not in client.get("/")


def test_languages_days_and_filters_are_separate_pages(client):
    chinese = read(client, "/notices/")
    english = read(client, "/notices/", HTTP_ACCEPT_LANGUAGE="en")
    assert english[HEADER] == "miss"
    assert english.content != chinese.content
    assert read(client, "/notices/", HTTP_ACCEPT_LANGUAGE="en")[HEADER] == "hit"

    pudong = read(client, "/notices/", {"district": "浦东新区"})
    assert pudong[HEADER] == "miss"
    assert read(client, "/notices/", {"district": "浦东新区"})[HEADER] == "hit"

    with time_machine.travel(clock.now() + timedelta(days=1)):
        assert read(client, "/notices/")[HEADER] == "miss"


def test_unknown_query_strings_and_other_methods_go_past_the_cache(client):
    read(client, "/notices/")
    assert HEADER not in read(client, "/notices/", {"utm_source": "wechat"})
    assert HEADER not in read(client, "/notices/", {"district": "区" * 65})
    assert HEADER not in client.head("/notices/")
    assert client.get("/no-such-page/").status_code == 404
    assert HEADER not in client.get("/no-such-page/")


def test_the_feeds_are_cached_and_follow_publication(client):
    feed = read(client, reverse("cms:notice_feed"))
    assert read(client, reverse("cms:notice_feed"))[HEADER] == "hit"
    with time_machine.travel(beijing(2026, 12, 1, 9, 0), tick=False):
        notice_publish(
            title="浦东新区计划停电",
            districts=["浦东新区"],
            starts_at=clock.now() + timedelta(days=9),
            ends_at=clock.now() + timedelta(days=9, hours=8),
            reason="线路检修",
        )
    fresh = read(client, reverse("cms:notice_feed"))
    assert fresh[HEADER] == "miss" and fresh.content != feed.content
    assert "浦东新区计划停电" in fresh.content.decode()


def test_the_language_switch_works_from_a_cached_page_without_a_token():
    visitor = Client(enforce_csrf_checks=True)
    read(visitor, "/")
    page = read(visitor, "/")
    assert page[HEADER] == "hit"
    assert "csrfmiddlewaretoken" not in page.content.decode()

    switched = visitor.post(reverse("set_language"), {"language": "en", "next": "/"})

    assert switched.status_code == 302
    english = visitor.get("/")
    assert english.headers["Content-Language"] == "en"


@pytest.mark.any_date
def test_a_change_made_by_another_process_reaches_this_one(client):
    """gunicorn's workers are separate processes, each with its own per-process cache in the
    embedded default: a publish in one must empty the others' pages (the generation file), and
    with Redis the generation kept there does the same."""
    read(client, "/")
    assert read(client, "/")[HEADER] == "hit"
    cache = settings.CACHES["default"]
    env = {
        **os.environ,
        "PAGE_CACHE_GENERATION_FILE": str(settings.PAGE_CACHE_GENERATION_FILE),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    if cache.get("LOCATION", "").startswith("redis://"):
        env |= {"REDIS_URL": cache["LOCATION"], "CACHE_KEY_PREFIX": cache.get("KEY_PREFIX", "")}
    code = "import django; django.setup(); from cms import page_cache; page_cache.bump('test')"

    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)  # noqa: S603

    assert read(client, "/")[HEADER] == "miss"


def test_turned_off_it_serves_every_page_fresh(client, settings):
    settings.PAGE_CACHE_SECONDS = 0
    read(client, "/")
    assert HEADER not in read(client, "/")
