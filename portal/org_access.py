"""Resolving the organisation named in a URL for the signed-in person, once, for every org view.

``@org_member_required`` turns the ``org`` URL argument into ``request.membership`` (404 if the
person is not a member). Organisation administrators must have two-factor authentication: until
they set it up, every organisation page sends them to the set-up page.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from . import selectors
from .mfa import user_has_mfa


def org_member_required(view=None, *, admin=False):
    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, org, *args, **kwargs):
            membership = selectors.membership_get_for_request(
                request=request, organisation_uuid=org
            )
            if admin and not membership.is_admin:
                raise Http404
            if refused := admin_mfa_redirect(request, membership):
                return refused
            request.membership = membership
            return view(request, *args, **kwargs)

        return wrapped

    return decorator(view) if view else decorator


def admin_mfa_redirect(request, membership):
    """Organisation administrators act for the organisation only with two factors: for one
    without, the redirect to set them up (and back); None otherwise. Any page an administrator
    reaches through an organisation asks this, under /org/ or not."""
    if membership is None or not membership.is_admin or user_has_mfa(request.user):
        return None
    messages.warning(
        request, _("Organisation administrators must set up two-factor authentication first.")
    )
    return redirect(f"{_totp_url()}?next={request.get_full_path()}")


def _totp_url():
    from django.urls import reverse

    return reverse("mfa_activate_totp")
