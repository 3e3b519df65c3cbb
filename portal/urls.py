from django.contrib import admin
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.i18n import set_language
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.documents import urls as wagtaildocs_urls

from .integration_api import api as integration_api
from .views import site

handler400 = "portal.views.site.bad_request"
handler403 = "portal.views.site.permission_denied"
handler404 = "portal.views.site.page_not_found"
handler500 = "portal.views.site.server_error"

urlpatterns = [
    path("accounts/", include("allauth.urls")),
    path("me/applications/", include("applications.urls")),
    path("me/", include("portal.urls_me")),
    path("org/", include("portal.urls_org")),
    path("bills/", include("payments.urls.bills")),
    path("pay/", include("payments.urls.pay")),
    path("receipts/", include("payments.urls.receipts")),
    path("survey/", include("applications.urls_public")),
    path("api/integration/v1/", integration_api.urls),
    # Without a CSRF token, so the language switch can sit on pages served from the anonymous
    # page cache: its only effect is the visitor's display language (docs/cms.md, "Speed").
    path("i18n/setlang/", csrf_exempt(set_language), name="set_language"),
    path("privacy/", site.privacy_notice, name="privacy_notice"),
    path("elder-mode/", site.elder_mode_switch, name="elder_mode"),
    path("healthz", site.healthz, name="healthz"),
    path("cms-admin/", include(wagtailadmin_urls)),
    path("django-admin/", admin.site.urls),
    path("documents/", include(wagtaildocs_urls)),
]

# Public CMS images (Wagtail's renditions) from the media storage, local disk or bucket; private
# uploads are always served through permission-checked views.
urlpatterns += [re_path(r"^media/images/(?P<path>.+)$", site.cms_image, name="cms_image")]

# The CMS's feeds and site search (/notices/feed.atom, /notices/outages.ics, /search/), then
# Wagtail serves every other path (the home page, notices and guides): keep it last.
urlpatterns += [path("", include("cms.urls")), path("", include(wagtail_urls))]
