"""The elder-friendly mode (portal/preferences.py): switched from any page, back to that page;
remembered for the browser and for the person; public pages from the cache kept apart by mode;
plain wording on the key pages."""

import pytest
from bs4 import BeautifulSoup
from django.test import Client
from django.urls import reverse

from portal.models import User
from portal.preferences import COOKIE
from tests.cms.notices import notice_publish
from tests.factories import PASSWORD, BindingFactory, UserFactory
from tests.portal.test_identity import log_in_with_password

pytestmark = pytest.mark.django_db


def page(client, path: str) -> BeautifulSoup:
    response = client.get(path)
    assert response.status_code == 200
    return BeautifulSoup(response.content, "html.parser")


def in_elder_mode(soup: BeautifulSoup) -> bool:
    pressed = soup.select_one(".elder-switch__button")["aria-pressed"]
    elder = "elder" in (soup.html.get("class") or [])
    assert pressed == ("true" if elder else "false")  # the switch says what the page shows
    return elder


def switch(client, *, on: bool, next: str = "/", **extra):
    return client.post(reverse("elder_mode"), {"elder": "1" if on else "0", "next": next}, **extra)


def test_a_visitor_switches_it_on_from_a_page_and_is_back_on_that_page_in_it(client):
    notice = notice_publish(title="春节营业时间调整", kind="general")
    soup = page(client, notice.url)
    assert not in_elder_mode(soup)
    assert soup.select_one(".elder-switch__button").get_text(strip=True) == "长辈模式"

    answer = switch(client, on=True, next=notice.url)
    assert answer.status_code == 302 and answer["Location"] == notice.url
    assert answer.cookies[COOKIE].value == "1"
    assert answer.cookies[COOKIE]["httponly"] and answer.cookies[COOKIE]["max-age"] > 30 * 86400
    for path in (notice.url, "/notices/", "/", reverse("account_login")):
        assert in_elder_mode(page(client, path)), path

    switch(client, on=False, next=notice.url)
    assert not in_elder_mode(page(client, notice.url))


def test_cached_public_pages_are_kept_apart_by_mode(client):
    notice = notice_publish(title="春节营业时间调整", kind="general")
    assert not in_elder_mode(page(client, notice.url))
    assert client.get(notice.url)["X-Page-Cache"] == "hit"

    elder = Client()
    elder.cookies[COOKIE] = "1"
    first = elder.get(notice.url)
    assert first["X-Page-Cache"] == "miss"
    assert in_elder_mode(BeautifulSoup(first.content, "html.parser"))
    assert elder.get(notice.url)["X-Page-Cache"] == "hit"
    assert not in_elder_mode(page(client, notice.url))


def test_it_is_remembered_for_the_person_on_every_browser(client, audit_actions):
    user = UserFactory()
    client.force_login(user)
    switch(client, on=True)
    user.refresh_from_db()
    assert user.elder_mode
    assert audit_actions(action="profile.elder_mode") == ["profile.elder_mode"]

    other_browser = Client()
    assert log_in_with_password(other_browser, user.email, PASSWORD).status_code == 302
    assert in_elder_mode(page(other_browser, reverse("me:dashboard")))
    # Turned off there, it is off for the person, here too.
    switch(other_browser, on=False)
    assert not User.objects.get(pk=user.pk).elder_mode
    assert not in_elder_mode(page(client, reverse("me:dashboard")))


def test_someone_who_turns_it_on_before_signing_in_keeps_it_after(client):
    user = UserFactory()
    switch(client, on=True)
    assert log_in_with_password(client, user.email, PASSWORD).status_code == 302
    assert User.objects.get(pk=user.pk).elder_mode
    assert in_elder_mode(page(client, reverse("me:dashboard")))


def test_signed_in_the_switch_needs_the_forms_token(audit_actions):
    user = UserFactory()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    assert switch(browser, on=True).status_code == 403
    assert not User.objects.get(pk=user.pk).elder_mode
    assert audit_actions(action="profile.elder_mode") == []
    # The token the signed-in header's form carries lets it through.
    token = page(browser, reverse("me:dashboard")).select_one(
        ".elder-switch input[name=csrfmiddlewaretoken]"
    )["value"]
    answer = browser.post(
        reverse("elder_mode"), {"elder": "1", "next": "/", "csrfmiddlewaretoken": token}
    )
    assert answer.status_code == 302
    assert User.objects.get(pk=user.pk).elder_mode


def test_signed_out_the_switch_works_without_a_token_as_the_cached_pages_have_none():
    browser = Client(enforce_csrf_checks=True)
    soup = page(browser, "/")
    assert soup.select_one(".elder-switch input[name=csrfmiddlewaretoken]") is None
    assert switch(browser, on=True).status_code == 302
    assert in_elder_mode(page(browser, "/"))


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", ""])
def test_it_never_sends_anyone_to_another_site(client, target):
    answer = switch(client, on=True, next=target)
    assert answer.status_code == 302 and answer["Location"] == "/"


def test_it_answers_only_a_post(client):
    assert client.get(reverse("elder_mode")).status_code == 405


def test_the_dashboard_and_the_pay_page_speak_plainly_in_it(client):
    binding = BindingFactory()
    client.force_login(binding.user)
    standard = page(client, reverse("me:dashboard"))
    assert "缴费" not in [a.get_text(strip=True) for a in standard.select(".page-head .button")]
    switch(client, on=True)

    dashboard = page(client, reverse("me:dashboard"))
    assert "这里是您的电费户号。要交电费，请点“缴费”。" in dashboard.get_text()
    buttons = [a.get_text(strip=True) for a in dashboard.select(".page-head .button")]
    assert buttons == ["缴费", "添加户号"]
    pay = page(client, reverse("pay:bills"))
    assert "勾选要交的账单，再点“去支付”。" in pay.get_text()

    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    dashboard = page(client, reverse("me:dashboard"))
    assert "To pay for electricity, press “Pay”." in dashboard.get_text()
    assert dashboard.select_one(".elder-switch__button").get_text(strip=True) == (
        "Elder-friendly view"
    )
