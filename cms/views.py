from django.core.paginator import Paginator
from django.template.response import TemplateResponse
from wagtail.models import Page, Site

from .models import NoticePage
from .search import pages_matching, translation_keys_matching
from .translation import content_language, default_language, localize

SEARCH_PER_PAGE = 10
SEARCH_QUERY_MAX = 100


def search(request):
    """Site search (/search/?q=…): the live public pages that match, best first; in English, a
    page and its translation are one result, shown in English where it is translated."""
    query = request.GET.get("q", "").strip()[:SEARCH_QUERY_MAX]
    context = {"query": query, "params": request.GET.copy()}
    site = Site.find_for_request(request)
    if query and site is not None:
        chinese = content_language() == default_language()
        if chinese:  # the Chinese pages only: they hold every page once
            paginator = Paginator(pages_matching(query=query, site=site), SEARCH_PER_PAGE)
        else:
            paginator = Paginator(
                translation_keys_matching(query=query, site=site), SEARCH_PER_PAGE
            )
        page = paginator.get_page(request.GET.get("page"))
        # The results are plain pages (or keys): one query per page type gives them their own
        # fields, and one more their translations.
        if chinese:
            found = [result.pk for result in page]
            specific = Page.objects.filter(pk__in=found).specific().in_bulk()
            shown = [specific[pk] for pk in found if pk in specific]  # not deleted meanwhile
        else:
            keys = list(page)
            originals = {
                original.translation_key: original
                for original in Page.objects.live()
                .public()
                .filter(translation_key__in=keys, locale__language_code=default_language())
                .specific()
            }
            shown = localize(originals[key] for key in keys if key in originals)
        context.update(
            page_obj=page,
            results=[(result, isinstance(result, NoticePage)) for result in shown],
            page_range=paginator.get_elided_page_range(page.number),
        )
    return TemplateResponse(request, "cms/search.html", context)
