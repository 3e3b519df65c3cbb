from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from .core import request_context
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
