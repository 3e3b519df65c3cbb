"""Site-wide pages that belong to no one's account: the privacy notice, the elder-friendly mode's
switch, the health check, the CMS's images, and the error pages (a short error id, never a stack
trace)."""

import logging
import mimetypes
import posixpath
import secrets

from django.core.cache import cache
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import Min
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.tasks import task_backends
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from .. import preferences
from ..core import clock
from ..core.storage import PUBLIC_IMAGES

logger = logging.getLogger(__name__)


def privacy_notice(request):
    return render(request, "portal/privacy_notice.html")


@csrf_exempt
@require_POST
def elder_mode_switch(request):
    """The header's switch of the elder-friendly mode (portal/preferences.py), back to the page
    it was pressed on. The anonymous page cache serves one page to every visitor, so its form
    carries no CSRF token: signed out, all it sets is this browser's display cookie, as the
    language switch does. Signed in it also changes the person's setting, so the token is
    checked as for any other form (the signed-in header carries it)."""
    if request.user.is_authenticated:
        refused = CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})
        if refused is not None:
            return refused
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    response = HttpResponseRedirect(target)
    preferences.elder_mode_set(
        request=request, response=response, on=request.POST.get("elder") == "1"
    )
    return response


# --- Operations ---------------------------------------------------------------------------------
@never_cache
def healthz(request):
    """For the load balancer: 200 when the database and the cache answer and the task queue can
    be read, else 503 naming what failed. The task queue's backlog (the oldest task waiting, in
    seconds) is reported, never failed on: workers behind is not a reason to take this app server
    out of rotation."""
    checks = {"database": "ok", "cache": "ok", "tasks": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.exception("health check: database unreachable")
        checks["database"] = "error"
    token = secrets.token_hex(8)
    try:
        cache.set("healthz", token, 30)
        if cache.get("healthz") != token:
            raise RuntimeError("the cache did not return what was just stored")
    except Exception:
        logger.exception("health check: cache unreachable")
        checks["cache"] = "error"
    body = {"checks": checks}
    try:
        body["tasks_waiting_seconds"] = _oldest_task_waiting()
    except Exception:
        logger.exception("health check: task queue unreadable")
        checks["tasks"] = "error"
    failed = any(state != "ok" for state in checks.values())
    body["status"] = "error" if failed else "ok"
    return JsonResponse(body, status=503 if failed else 200)


def _oldest_task_waiting() -> int | None:
    """Seconds the oldest task ready to run has waited in the database queue; None when tasks
    run in-process (the embedded default) or none waits."""
    if not isinstance(task_backends["default"], DatabaseBackend):
        return None
    oldest = DBTaskResult.objects.ready().aggregate(oldest=Min("enqueued_at"))["oldest"]
    return None if oldest is None else max(0, int((clock.now() - oldest).total_seconds()))


@require_safe
def cms_image(request, path):
    """An image rendition of the CMS (public content) from the media storage, local disk or
    bucket alike (portal/core/storage.py). Only the renditions' folder: a path that leads out
    of it is not found."""
    name = posixpath.normpath(PUBLIC_IMAGES + path)
    if not name.startswith(PUBLIC_IMAGES) or "\\" in name:
        raise Http404
    content_type = mimetypes.guess_type(name)[0]
    if content_type is None or not content_type.startswith("image/"):
        raise Http404
    try:
        image = default_storage.open(name)
    except (FileNotFoundError, SuspiciousFileOperation) as missing:
        raise Http404 from missing
    response = FileResponse(image, content_type=content_type)
    # A rendition's name changes with its image and its filter: a day in the browser is safe.
    response["Cache-Control"] = "public, max-age=86400"
    return response


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


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: a form that came without its token (left open too long, cookies
    blocked, or forged by another site) is refused in the site's look and the visitor's
    language. CsrfViewMiddleware has already logged the reason; the page does not show it."""
    return _error(request, "errors/403_csrf.html", 403)


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
