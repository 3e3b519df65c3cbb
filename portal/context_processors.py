from django.conf import settings


def site(request):
    return {
        "COMPANY_NAME": settings.COMPANY_NAME,
        "SERVICE_HOTLINE": settings.SERVICE_HOTLINE,
        "request_id": getattr(request, "request_id", ""),
    }
