"""Application pages anyone may open without signing in, at /survey/ (namespace "survey"): the
satisfaction survey behind its signed link (``applications.survey_views``)."""

from django.urls import path

from . import survey_views

app_name = "survey"

urlpatterns = [
    path("<str:token>/", survey_views.survey_page, name="answer"),
]
