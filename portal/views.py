import json
import logging

from allauth.account.decorators import reauthentication_required
from allauth.usersessions.models import UserSession
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from . import services
from .core import clock
from .forms import AccountCloseForm
from .mfa import user_has_mfa, user_must_have_mfa
from .phone import mask_phone

logger = logging.getLogger(__name__)


# --- The signed-in person's own area -------------------------------------------------------------
@login_required
def overview(request):
    user = request.user
    return render(
        request,
        "portal/overview.html",
        {
            "masked_phone": mask_phone(user.phone) if user.phone else "",
            "has_mfa": user_has_mfa(user),
            "must_have_mfa": user_must_have_mfa(user),
            "session_count": UserSession.objects.filter(user=user).count(),
        },
    )


@login_required
def privacy(request):
    return render(request, "portal/privacy.html")


@never_cache
@login_required
@reauthentication_required
def data_export(request):
    data = services.user_data_export(user=request.user)
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    stamp = clock.today().isoformat()
    response["Content-Disposition"] = f'attachment; filename="powerhall-my-data-{stamp}.json"'
    return response


@login_required
@reauthentication_required
def account_close(request):
    form = AccountCloseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.user_close(user=request.user)
        logout(request)
        messages.success(
            request,
            _("Your account is closed and your personal data removed. Thank you for using us."),
        )
        return redirect("/")
    return render(request, "portal/account_close.html", {"form": form})


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
