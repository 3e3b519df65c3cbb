from django.conf import settings
from django.utils.functional import SimpleLazyObject


def site(request):
    user = getattr(request, "user", None)

    def memberships():
        # One query, only if a template asks (the header's context switch, drawn twice).
        if user is None or not user.is_authenticated:
            return []
        from .selectors import membership_list_for

        return list(membership_list_for(user=user))

    return {
        "COMPANY_NAME": settings.COMPANY_NAME,
        "SERVICE_HOTLINE": settings.SERVICE_HOTLINE,
        "request_id": getattr(request, "request_id", ""),
        "user_memberships": SimpleLazyObject(memberships),
    }
