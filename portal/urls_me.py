from django.urls import path

from . import views

app_name = "me"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("privacy/", views.privacy, name="privacy"),
    path("privacy/export.json", views.data_export, name="data_export"),
    path("privacy/close/", views.account_close, name="account_close"),
]
