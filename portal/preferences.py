"""The elder-friendly mode (适老化, as the national guidance for public websites asks): larger
type, higher contrast, bigger targets, a simpler header and plain wording on the key pages.

Anyone turns it on or off from the header of every page (``elder_mode_switch``). It is remembered
for the browser, in a cookie, and for the person, on ``User.elder_mode``: signed in, the person's
choice holds on every device; signed out, the browser's. Someone who turns it on before signing
in keeps it after (``elder_mode_adopt``, on sign-in). The public pages served from the anonymous
page cache are kept apart by mode (cms/page_cache.py puts ``cookie_mode`` in the key).
"""

from django.conf import settings

from .core.audit import audit_record

COOKIE = "elder-mode"
COOKIE_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie


def cookie_mode(request) -> bool:
    """What the browser's cookie asks for."""
    return request.COOKIES.get(COOKIE) == "1"


def elder_mode(request) -> bool:
    """Whether this request's pages are drawn in the elder-friendly mode."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user.elder_mode
    return cookie_mode(request)


def elder_mode_set(*, request, response, on: bool) -> None:
    """Turn the mode on or off for this browser (on ``response``) and, signed in, the person."""
    if on:
        response.set_cookie(
            COOKIE,
            "1",
            max_age=COOKIE_AGE,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
    else:
        response.delete_cookie(COOKIE, samesite="Lax")
    user = request.user
    if user.is_authenticated and user.elder_mode != on:
        user.elder_mode = on
        user.save(update_fields=["elder_mode"])
        audit_record(action="profile.elder_mode", actor=user, obj=user, data={"on": on})


def elder_mode_adopt(*, request, user) -> None:
    """On sign-in: a browser that asked for the mode keeps it for the person who signs in."""
    if request is not None and cookie_mode(request) and not user.elder_mode:
        user.elder_mode = True
        user.save(update_fields=["elder_mode"])
        audit_record(action="profile.elder_mode", actor=user, obj=user, data={"on": True})
