"""The CMS's own views beside Wagtail's page serving, included by the project shell before
Wagtail's catch-all (portal/urls.py). Page slugs never contain a dot, so the feeds' names cannot
clash with a notice's address."""

from django.urls import path

from . import feeds, views

app_name = "cms"
urlpatterns = [
    path("notices/feed.atom", feeds.notice_feed, name="notice_feed"),
    path("notices/outages.ics", feeds.outage_calendar, name="outage_calendar"),
    path("search/", views.search, name="search"),
]
