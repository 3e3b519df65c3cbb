"""Public feeds of the notices (docs/cms.md, "Feeds and search"): an Atom feed of the live notices
and an iCalendar feed of the planned outages, each for every district or one (``?district=``, as
the notice index filters), for feed readers and calendar subscriptions.

Each lists a notice once, in the reader's language where it is translated (``cms.translation``:
the Chinese notices decide what is listed and in which order, a live English translation gives
the words); the entry's or event's identity is the same in both languages.

Both answer conditional requests (Last-Modified and ETag): they change only when a page is
published, unpublished, moved or deleted, which Wagtail logs, or when a day begins (the calendar
drops outages long past, and a district's feeders follow the accounts).
"""

import hashlib
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.db.models import Count, IntegerField, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponse
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import strip_tags
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import condition
from icalendar import Calendar, Event, vDuration
from wagtail.models import PageLogEntry

from portal.core import clock
from portal.core.replica import reads_may_lag

from .models import NoticeIndexPage, NoticeKind
from .translation import default_language, localize

FEED_NOTICES = 50
# The calendar keeps an outage this long after it ended, then drops it (calendars that
# subscribed keep their own copy or not, as each prefers).
CALENDAR_KEEPS_PAST = timedelta(days=30)
# How often a calendar should fetch the feed again (RFC 7986 REFRESH-INTERVAL).
CALENDAR_REFRESH = timedelta(hours=1)
FEED_MAX_AGE = 5 * 60


def _index() -> NoticeIndexPage:
    index = NoticeIndexPage.objects.live().filter(locale__language_code=default_language()).first()
    if index is None:
        raise Http404
    return index


def _district(request) -> str:
    return request.GET.get("district", "").strip()[:100]


def _changed_at(request, *args, **kwargs) -> datetime:
    """The last moment either feed can have changed: the latest page publication, unpublication,
    move or deletion (Wagtail's page log), or the start of today."""
    logged = PageLogEntry.objects.aggregate(at=Max("timestamp"))["at"]
    return max(filter(None, [logged, clock.day_start(clock.today())]))


def _latest_publication(notice) -> datetime:
    """When what the reader sees last changed: the Chinese notice or the translation shown."""
    return max(filter(None, [notice.last_published_at, notice.original.last_published_at]))


def _version(request, *args, **kwargs) -> str:
    """An ETag: the feed's inputs (the moment it last changed, the URL and the language)."""
    key = f"{_changed_at(request).isoformat()}|{request.get_full_path()}|{get_language()}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


# --- Atom ---------------------------------------------------------------------------------------
class NoticeFeed(Feed):
    """The latest live notices, newest first."""

    feed_type = Atom1Feed
    description_template = "cms/feeds/notice_description.html"

    def __call__(self, request, *args, **kwargs):
        response = super().__call__(request, *args, **kwargs)
        # Feed dates the feed by its newest entry; the condition decorator's date also moves when
        # a notice is unpublished or deleted, and conditional requests are answered by it.
        del response["Last-Modified"]
        return response

    def get_object(self, request, *args, **kwargs):
        # One Feed serves every request: what a request asked travels in ``obj``.
        return {"index": _index(), "district": _district(request), "path": request.get_full_path()}

    def title(self, obj):
        if obj["district"]:
            return _("%(company)s: notices for %(district)s") % {
                "company": settings.COMPANY_NAME,
                "district": obj["district"],
            }
        return _("%(company)s: notices") % {"company": settings.COMPANY_NAME}

    def subtitle(self, obj):
        return _("Planned and fault outages, tariff changes and other notices.")

    def link(self, obj):
        url = obj["index"].url
        return f"{url}?{urlencode({'district': obj['district']})}" if obj["district"] else url

    def feed_url(self, obj):
        return obj["path"]

    def items(self, obj):
        return localize(obj["index"].notices(district=obj["district"])[:FEED_NOTICES])

    def item_title(self, item):
        return item.title

    def item_link(self, item):
        return item.url

    def item_guid(self, item):
        # The notice's own identifier: the entry stays the same entry if its address changes.
        return f"urn:uuid:{item.translation_key}"

    def item_guid_is_permalink(self, item):
        return False

    def item_pubdate(self, item):
        return item.original.first_published_at

    def item_updateddate(self, item):
        return _latest_publication(item)

    def item_categories(self, item):
        return [item.get_kind_display(), *item.districts]


# Both feeds may read from the read replica (a publication shows a few seconds later at most);
# the conditional answer (ETag, Last-Modified) is worked out from the same reads.
notice_feed = reads_may_lag(
    cache_control(public=True, max_age=FEED_MAX_AGE)(
        condition(etag_func=_version, last_modified_func=_changed_at)(NoticeFeed())
    )
)


# --- iCalendar ----------------------------------------------------------------------------------
def planned_outages(*, index: NoticeIndexPage, district: str = ""):
    """The live planned outages (of ``district``) that have not been over for long, soonest first,
    each with ``publications``: how many times it has been published (the Chinese notices; the
    calendar shows them through ``localize``)."""
    publications = (
        PageLogEntry.objects.filter(page=OuterRef("pk"), action="wagtail.publish")
        .order_by()
        .values("page")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return (
        index.notices(kind=NoticeKind.PLANNED_OUTAGE, district=district)
        .filter(starts_at__isnull=False, ends_at__gte=clock.now() - CALENDAR_KEEPS_PAST)
        .annotate(publications=Coalesce(Subquery(publications), 0, output_field=IntegerField()))
        .order_by("starts_at", "pk")
    )


def _event(notice, *, url: str) -> Event:
    event = Event()
    # The same UID whatever changes, so a subscribed calendar updates the event it has; SEQUENCE
    # and LAST-MODIFIED move on at each publication (a changed time is published).
    # ``notice`` is the one shown (the reader's translation, or the Chinese notice), its
    # ``original`` the Chinese notice: its identity and its publications.
    event.add("uid", str(notice.translation_key))
    event.add("sequence", max(notice.original.publications - 1, 0))
    event.add("dtstamp", _latest_publication(notice))
    event.add("created", notice.original.first_published_at)
    event.add("last-modified", _latest_publication(notice))
    event.add("dtstart", notice.starts_at)
    event.add("dtend", notice.ends_at)
    event.add("summary", notice.title)
    event.add("location", "、".join(notice.districts or notice.feeders))
    event.add("description", _outage_text(notice, url=url))
    event.add("url", url)
    event.add("categories", [notice.get_kind_display()])
    event.add("status", "CONFIRMED")
    event.add("transp", "TRANSPARENT")  # an outage does not make anyone busy
    return event


def _outage_text(notice, *, url: str) -> str:
    lines = []
    if notice.reason:
        lines.append(_("Reason: %(reason)s") % {"reason": notice.reason})
    if notice.districts:
        lines.append(_("Districts: %(names)s") % {"names": "、".join(notice.districts)})
    if notice.feeders:
        lines.append(_("Feeders: %(names)s") % {"names": "、".join(notice.feeders)})
    body = strip_tags(notice.body).strip()
    if body:
        lines += ["", body]
    lines += ["", url]
    return "\n".join(lines)


@reads_may_lag
@cache_control(public=True, max_age=FEED_MAX_AGE)
@condition(etag_func=_version, last_modified_func=_changed_at)
def outage_calendar(request):
    """The planned outages as an iCalendar feed (RFC 5545), times in UTC."""
    index = _index()
    district = _district(request)
    calendar = Calendar()
    calendar.add("prodid", "-//powerhall//planned outages//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    name = _("Planned outages") + (f" · {district}" if district else "")
    calendar.add("name", name)  # RFC 7986
    calendar.add("x-wr-calname", name)  # the name most calendar programs read
    calendar.add("refresh-interval", CALENDAR_REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(CALENDAR_REFRESH))
    for notice in localize(planned_outages(index=index, district=district)):
        calendar.add_component(_event(notice, url=request.build_absolute_uri(notice.url)))
    response = HttpResponse(calendar.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="planned-outages.ics"'
    return response
