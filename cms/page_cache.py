"""The anonymous page cache: public pages, as an anonymous visitor reads them, from the cache.

Most visitors to the business hall are not signed in: they read the home page, the notices, the
tariffs and the guides. Rendering one of those through Wagtail costs tens of milliseconds and
several queries; serving it from the cache costs one cache read. What may be cached, and when it
stops being true, is decided here:

- Only a GET of a page Wagtail serves (or the notice feeds), without a session or messages cookie
  (so never for a signed-in person, whose header differs, and never for the admin), with no query
  string other than the listing's own filters (``district``, ``kind``, ``page``), answered 200 with
  no cookie set and nothing marking it private. Anything else goes through untouched.
- The key holds the business date (a notice index says "today"), the host, the language chosen by
  LocaleMiddleware, the elder-friendly mode the browser asked for (portal/preferences.py) and the
  path with its canonical query string.
- Every entry carries the *generation* it was rendered under; any change to what public pages show
  (publishing, unpublishing, a scheduled publication or expiry, moving or deleting a page, sites,
  service settings, view restrictions, images, documents, commitment rules, application kinds,
  tariffs, migrations) replaces the generation once its transaction commits, so the next visitor
  gets a fresh page at once. Entries also expire after PAGE_CACHE_SECONDS, which bounds what no
  signal announces (an outage whose end time passes, a district new to the accounts).
- The generation lives beside the entries when the cache is shared (Redis: the generation and the
  page come back in one MGET), else in a small file under var/ that every process of the embedded
  default reads, so a publish in one process reaches the other's per-process cache.

Responses say ``X-Page-Cache: hit`` or ``miss`` when the request was one the cache may answer.
docs/cms.md ("Speed") and docs/configuration.md describe the settings.
"""

import logging
import os
import uuid
from hashlib import sha256
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction
from django.http import HttpResponse
from django.utils.cache import get_conditional_response
from django.utils.http import parse_http_date_safe

from portal import preferences
from portal.core import clock, replica

log = logging.getLogger("powerhall.cms")

HEADER = "X-Page-Cache"
GENERATION_KEY = "page-cache:generation"
# The Wagtail page server and the public feeds (cms/urls.py); search is not cached (free text).
CACHED_VIEWS = frozenset({"wagtail_serve", "cms:notice_feed", "cms:outage_calendar"})
FILTERS = frozenset({"district", "kind", "page"})
MAX_FILTER_LENGTH = 64


def _seconds() -> int:
    return settings.PAGE_CACHE_SECONDS


def _local_generation() -> bool:
    """A per-process cache cannot share the generation with the other processes: use the file."""
    return isinstance(caches["default"], LocMemCache)


def _generation_file() -> Path:
    return Path(settings.PAGE_CACHE_GENERATION_FILE)


def _read_file_generation() -> str:
    path = _generation_file()
    try:
        return path.read_text()
    except FileNotFoundError:
        return _write_file_generation()


def _write_file_generation() -> str:
    """A new generation, written whole (a reader sees the old one or the new one, never half)."""
    path = _generation_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    partial = path.with_name(f".{path.name}.{os.getpid()}.{token}")
    partial.write_text(token)
    partial.replace(path)
    return token


def _cached_generation(value) -> str:
    """The shared cache's generation; a new one if it was never set or was evicted (a random one,
    so no entry of an earlier generation can match it)."""
    if value is not None:
        return value
    token = uuid.uuid4().hex
    if cache.add(GENERATION_KEY, token, timeout=None):
        return token
    return cache.get(GENERATION_KEY) or token


def bump(reason: str = "") -> None:
    """Make every cached page stale, now. A cache that cannot be reached is logged, not raised:
    the change that asked for it stands, and what it left cached expires by PAGE_CACHE_SECONDS."""
    try:
        if _local_generation():
            _write_file_generation()
        else:
            cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
    except Exception:
        log.exception("page cache: could not start a new generation (%s)", reason)
    else:
        log.debug("page cache: new generation (%s)", reason)


def bump_on_commit(reason: str = "") -> None:
    """Make every cached page stale now and again once the current transaction commits: a visitor
    who reads the page between the change and its commit would otherwise store the old page
    under the new generation. (Outside a transaction the second bump is immediate too.)"""
    bump(reason)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: bump(reason), robust=True)


def _cacheable_request(request) -> bool:
    if request.method != "GET" or not _seconds():
        return False
    cookies = request.COOKIES
    if settings.SESSION_COOKIE_NAME in cookies or CookieStorage.cookie_name in cookies:
        return False
    return all(
        name in FILTERS and all(len(v) <= MAX_FILTER_LENGTH for v in request.GET.getlist(name))
        for name in request.GET
    )


def _key(request) -> str:
    query = urlencode(sorted((k, v) for k in request.GET for v in request.GET.getlist(k)))
    raw = "|".join(
        (
            clock.today().isoformat(),
            request.get_host(),
            getattr(request, "LANGUAGE_CODE", settings.LANGUAGE_CODE),
            "elder" if preferences.cookie_mode(request) else "",
            request.path,
            query,
        )
    )
    return "page-cache:page:" + sha256(raw.encode()).hexdigest()


def _storable(request, response) -> bool:
    match = request.resolver_match
    if match is None or match.view_name not in CACHED_VIEWS:
        return False
    if response.status_code != 200 or response.streaming or response.cookies:
        return False
    cache_control = response.get("Cache-Control", "")
    return not any(word in cache_control for word in ("private", "no-store", "no-cache"))


class AnonymousPageCacheMiddleware:
    """Serve anonymous public pages from the cache (module docstring). Placed after
    LocaleMiddleware (the language is part of the key) and before everything a page needs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not _cacheable_request(request):
            return self.get_response(request)
        key = _key(request)
        try:
            generation, entry = _lookup(key)
        except Exception:  # the cache unreachable: serve the page as if there were none
            log.exception("page cache: lookup failed")
            return self.get_response(request)
        if entry is not None and entry[0] == generation:
            _generation, content, headers = entry
            response = HttpResponse(content)
            for name, value in headers:
                response[name] = value
            response[HEADER] = "hit"
            # As the view would have answered a conditional request (the feeds' ETags).
            return get_conditional_response(
                request,
                etag=response.get("ETag"),
                last_modified=parse_http_date_safe(response.get("Last-Modified", "")),
                response=response,
            )
        # Rendered from the primary, never the read replica: the entry is stored under the
        # generation read above, which a change has perhaps just replaced, and a replica that has
        # not replayed that change yet would have the old page kept under the new generation
        # for PAGE_CACHE_SECONDS (portal/core/replica.py).
        with replica.reads_from_primary():
            response = self.get_response(request)
        if _storable(request, response):
            # The generation read before rendering: a change committed meanwhile makes this
            # entry stale at once rather than letting it outlive the change.
            headers = [(k, v) for k, v in response.items() if k.lower() != "content-length"]
            try:
                cache.set(key, (generation, response.content, headers), timeout=_seconds())
            except Exception:
                log.exception("page cache: could not store a page")
            response[HEADER] = "miss"
        return response


def _lookup(key: str) -> tuple[str, tuple | None]:
    """The current generation and the entry under ``key`` (None if there is none)."""
    if _local_generation():
        return _read_file_generation(), cache.get(key)
    found = cache.get_many([GENERATION_KEY, key])
    return _cached_generation(found.get(GENERATION_KEY)), found.get(key)
