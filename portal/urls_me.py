from django.urls import include, path

from . import views, views_binding, views_notifications

app_name = "me"

urlpatterns = [
    path("", views_binding.dashboard, name="dashboard"),
    path("profile/", views.overview, name="overview"),
    path("privacy/", views.privacy, name="privacy"),
    path("notifications/", views_notifications.notifications, name="notifications"),
    path("privacy/export.json", views.data_export, name="data_export"),
    path("privacy/close/", views.account_close, name="account_close"),
    path("accounts/bind/", views_binding.bind, name="bind"),
    path("accounts/bind/code/<uuid:challenge>/", views_binding.bind_code, name="bind_code"),
    path("accounts/history/", views_binding.history, name="history"),
    path("accounts/<uuid:binding>/", views_binding.account_detail, name="account"),
    path("accounts/<uuid:binding>/label/", views_binding.relabel, name="relabel"),
    path("accounts/<uuid:binding>/unbind/", views_binding.unbind, name="unbind"),
    path("", include("payments.urls.me")),
]
