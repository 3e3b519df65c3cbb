import hashlib

from allauth.account.adapter import get_adapter
from allauth.usersessions import app_settings as usersessions_settings
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import resolve
from django.utils import translation
from django.utils.translation import gettext as _

from .core import clock, replica, request_context
from .mfa import user_has_mfa, user_must_have_mfa


def client_ip(request) -> str:
    """The client address. Behind a proxy, the proxy must set X-Forwarded-For and
    TRUSTED_PROXY_HOPS says how many entries of it to trust (0: use REMOTE_ADDR)."""
    hops = settings.TRUSTED_PROXY_HOPS
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops and forwarded:
        parts = [p.strip() for p in forwarded.split(",") if p.strip()]
        if len(parts) >= hops:
            return parts[-hops]
    return request.META.get("REMOTE_ADDR", "")


class RequestContextMiddleware:
    """Give every request an id (returned as X-Request-ID) and remember who and where from."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_context.new_request_id(request.headers.get("X-Request-ID"))
        token = request_context.activate(
            request_context.RequestContext(
                request_id=request.request_id,
                ip=client_ip(request),
                user_agent=request.headers.get("User-Agent", "")[:300],
            )
        )
        try:
            response = self.get_response(request)
        finally:
            request_context.deactivate(token)
        response["X-Request-ID"] = request.request_id
        return response


class WebhookShortPathMiddleware:
    """Send requests for ``WEBHOOK_PATHS`` (the payment provider's webhook endpoint,
    /pay/webhooks/stripe/) straight to their view, past the rest of MIDDLEWARE.

    A provider's delivery has no cookie, no user and no language, and is answered in plain
    text: sessions, locale, the page cache, CSRF (the view is exempt), authentication,
    messages, allauth and session activity have nothing to do for it, and each costs a little
    on every delivery. What sits before this middleware in MIDDLEWARE still applies (the request
    id and its log context, the security headers, CSP, X-Frame-Options). Every other path goes on
    through the whole list, unchanged.

    The paths are exact (no prefixes: anything else under /pay/ is a person's page). The views
    served here must not rely on ``request.user`` or ``request.session`` (the language is the
    one the request asks for, as LocaleMiddleware would choose it),
    nor on ``ATOMIC_REQUESTS`` (off; the webhook view is ``non_atomic_requests`` anyway). An
    exception in the view becomes the usual error answer (Django's handler around each
    middleware).
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.paths = frozenset(settings.WEBHOOK_PATHS)

    def __call__(self, request):
        if request.path_info in self.paths:
            # LocaleMiddleware is skipped, but the thread keeps the language the last request it
            # served left active: choose it from the request (the sender's Accept-Language, else
            # LANGUAGE_CODE), so what is kept and answered does not depend on who came before.
            with translation.override(translation.get_language_from_request(request)):
                return self._view(request)
        return self.get_response(request)

    @staticmethod
    def _view(request):
        match = request.resolver_match = resolve(request.path_info)
        return match.func(request, *match.args, **match.kwargs)


class ReadReplicaPinMiddleware:
    """After a request that changed something (a POST, PUT, PATCH or DELETE that wrote to the
    database), keep that browser's reads on the primary for READ_REPLICA_MAX_LAG_SECONDS, so the
    page it is sent to next shows its change even if the read replica has not replayed it yet
    (portal/core/replica.py, docs/operations.md "Read replica"). Without a replica, or for GET
    and HEAD, it does nothing."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in replica.SAFE_METHODS or not replica.configured():
            return self.get_response(request)
        with replica.writes_watched() as writes:
            response = self.get_response(request)
        if writes.wrote:
            replica.pin_to_primary(response)
        return response


class UserSessionActivityMiddleware:
    """Keep allauth's list of a person's sessions (Account → Sessions: last seen, IP, browser)
    current, writing at most once per SESSION_ACTIVITY_WRITE_SECONDS per session.

    allauth's own UserSessionsMiddleware updates the session's row on every request (a
    transaction with a SELECT and an UPDATE: 10-15 % of a signed-in page, docs/performance.md).
    This one remembers in the session itself when it last wrote, for which session key and from
    which client, and writes again only when that is old, the key is another (a new login), or
    the IP or browser changed (allauth's session_client_changed signal then fires as before).
    Between writes "last seen" lags by at most the interval; listing and ending sessions are
    allauth's, unchanged.
    """

    marker = "_powerhall_activity"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        self.track(request)
        return self.get_response(request)

    def track(self, request) -> None:
        session = getattr(request, "session", None)
        # The session key comes from the cookie: an anonymous visitor without one costs nothing.
        if session is None or not session.session_key or not usersessions_settings.TRACK_ACTIVITY:
            return
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return
        user_agent = request.META.get("HTTP_USER_AGENT", "")[
            : UserSession._meta.get_field("user_agent").max_length
        ]
        client = hashlib.blake2b(
            f"{get_adapter().get_client_ip(request)}\n{user_agent}".encode(), digest_size=8
        ).hexdigest()
        now = clock.now().timestamp()
        last = session.get(self.marker) or {}
        if (
            last.get("key") == session.session_key
            and last.get("client") == client
            and 0 <= now - last.get("at", 0) < settings.SESSION_ACTIVITY_WRITE_SECONDS
        ):
            return
        UserSession.objects.create_from_request(request, user=user, session=session)
        session[self.marker] = {"key": session.session_key, "client": client, "at": now}


class BackOfficeContentSecurityPolicyMiddleware:
    """The back offices' pages get BACK_OFFICE_CSP instead of the site's SECURE_CSP: Wagtail's
    and Django's admin templates have inline scripts. Listed after Django's CSP middleware, so
    it marks the response before that one writes the header; a view's own csp_override wins."""

    prefixes = ("/cms-admin/", "/django-admin/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(self.prefixes) and not hasattr(response, "_csp_config"):
            response._csp_config = settings.BACK_OFFICE_CSP
        return response


class StaffMFARequiredMiddleware:
    """Staff and editors must have MFA set up before they reach any back office."""

    protected_prefixes = ("/cms-admin/", "/django-admin/")
    wagtail_prefix = "/cms-admin/"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            request.path.startswith(self.protected_prefixes)
            and user is not None
            and user.is_authenticated
            and user_must_have_mfa(user)
            and not user_has_mfa(user)
        ):
            messages.warning(
                request,
                _("Set up two-factor authentication before you use the back office."),
            )
            return redirect("mfa_activate_totp")
        if (
            request.path.startswith(self.wagtail_prefix)
            and user is not None
            and user.is_authenticated
            and not user.has_perm("wagtailadmin.access_admin")
        ):
            # Wagtail sends a signed-in user without admin access to WAGTAILADMIN_LOGIN_URL, and
            # allauth's login page sends a signed-in user on to ?next=, the admin again: an
            # endless redirect. Refuse plainly instead.
            raise PermissionDenied
        return self.get_response(request)
