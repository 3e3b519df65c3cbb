import json
import logging

from allauth.account.decorators import reauthentication_required
from allauth.usersessions.models import UserSession
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from .. import services
from ..core import clock
from ..forms.identity import AccountCloseForm
from ..mfa import user_has_mfa, user_must_have_mfa
from ..phone import mask_phone

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
