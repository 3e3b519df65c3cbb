"""The CMS's own views beside Wagtail's page serving, included by the project shell before
Wagtail's catch-all (portal/urls.py)."""

from django.urls import path

from . import views

app_name = "cms"
urlpatterns = [
    path("search/", views.search, name="search"),
]
