"""Paying bills online: /pay/… (namespace "pay")."""

from django.urls import path

from . import views_webhook

app_name = "pay"

urlpatterns = [
    path("webhooks/stripe/", views_webhook.stripe_webhook, name="stripe_webhook"),
]
