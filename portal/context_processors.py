from django.conf import settings
from django.utils.functional import SimpleLazyObject

from .core.registry import Registry
from .preferences import elder_mode

hotline_providers: Registry = Registry("service hotline")
"""Extension point: ``provider(request) -> str``, the service hotline for this request ("" when
it has none to give). The CMS registers the hotline of the site settings (cms/hooks.py); the
first provider with a number wins, else ``settings.SERVICE_HOTLINE``. Providers are asked only
when a template shows the hotline, and must be cheap: every page's header and footer do."""


def service_hotline(request) -> str:
    for provider in hotline_providers:
        hotline = provider(request)
        if hotline:
            return hotline
    return settings.SERVICE_HOTLINE


def site(request):
    def memberships():
        # Only if a template asks (the header's organisation switch), and shared with the page
        # itself (the dashboard, an organisation's pages): one query a request at most.
        if getattr(request, "user", None) is None:
            return []
        from .selectors import membership_list_for_request

        return membership_list_for_request(request=request)

    return {
        "COMPANY_NAME": settings.COMPANY_NAME,
        "SERVICE_HOTLINE": SimpleLazyObject(lambda: service_hotline(request)),
        "request_id": getattr(request, "request_id", ""),
        "user_memberships": SimpleLazyObject(memberships),
        "elder_mode": elder_mode(request),
    }
