from django.urls import include, path

from .views import binding, notifications, profile

app_name = "me"

urlpatterns = [
    path("", binding.dashboard, name="dashboard"),
    path("profile/", profile.overview, name="overview"),
    path("privacy/", profile.privacy, name="privacy"),
    path("notifications/", notifications.notifications, name="notifications"),
    path("privacy/export.json", profile.data_export, name="data_export"),
    path("privacy/close/", profile.account_close, name="account_close"),
    path("accounts/bind/", binding.bind, name="bind"),
    path("accounts/bind/code/<uuid:challenge>/", binding.bind_code, name="bind_code"),
    path("accounts/history/", binding.history, name="history"),
    path("accounts/<uuid:binding>/", binding.account_detail, name="account"),
    path("accounts/<uuid:binding>/label/", binding.relabel, name="relabel"),
    path("accounts/<uuid:binding>/unbind/", binding.unbind, name="unbind"),
    path("", include("payments.urls.me")),
]
