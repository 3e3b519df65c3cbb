"""Site-wide pages that belong to no one's account: the privacy notice, the health check, and the
error pages (a short error id, never a stack trace)."""

import logging

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

logger = logging.getLogger(__name__)


def privacy_notice(request):
    return render(request, "portal/privacy_notice.html")


# --- Operations ---------------------------------------------------------------------------------
@never_cache
def healthz(request):
    """Liveness and database reachability for the load balancer."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.exception("health check: database unreachable")
        return JsonResponse({"status": "error"}, status=503)
    return JsonResponse({"status": "ok"})


# --- Error pages: a short error id, never a stack trace ------------------------------------------
def _error(request, template, status):
    return render(
        request,
        template,
        {"error_id": getattr(request, "request_id", ""), "status": status},
        status=status,
    )


def bad_request(request, exception=None):
    return _error(request, "errors/400.html", 400)


def permission_denied(request, exception=None):
    return _error(request, "errors/403.html", 403)


def page_not_found(request, exception=None):
    return _error(request, "errors/404.html", 404)


def server_error(request):
    # Rendered with the fewest moving parts: the database or a context processor may be what
    # failed. The id is the request id, which is also on the logged traceback.
    from django.template import loader

    try:
        body = loader.get_template("errors/500.html").render(
            {"error_id": getattr(request, "request_id", ""), "status": 500}
        )
    except Exception:
        body = "<h1>500</h1><p>Error id: {}</p>".format(getattr(request, "request_id", ""))
    return HttpResponse(body, status=500)
