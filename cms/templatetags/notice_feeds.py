"""The notice index's subscriptions (cms/feeds.py), with their addresses made here."""

from urllib.parse import urlencode

from django import template
from django.urls import reverse

register = template.Library()


@register.inclusion_tag("cms/includes/notice_subscribe.html", takes_context=True)
def notice_subscriptions(context, district: str = ""):
    """The Atom feed and the calendar of planned outages, for ``district`` or for all."""
    query = f"?{urlencode({'district': district})}" if district else ""
    calendar_url = context["request"].build_absolute_uri(reverse("cms:outage_calendar") + query)
    return {
        "district": district,
        "feed_url": reverse("cms:notice_feed") + query,
        "calendar_url": calendar_url,
        # webcal: asks the calendar program to subscribe (it fetches the same address over HTTP)
        "webcal_url": "webcal:" + calendar_url.split(":", 1)[1],
    }
