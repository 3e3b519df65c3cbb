from django.core.paginator import Paginator
from django.template.response import TemplateResponse
from wagtail.models import Page, Site

from .models import NoticePage
from .search import pages_matching

SEARCH_PER_PAGE = 10
SEARCH_QUERY_MAX = 100


def search(request):
    """Site search (/search/?q=…): the live public pages that match, best first."""
    query = request.GET.get("q", "").strip()[:SEARCH_QUERY_MAX]
    context = {"query": query, "params": request.GET.copy()}
    site = Site.find_for_request(request)
    if query and site is not None:
        paginator = Paginator(pages_matching(query=query, site=site), SEARCH_PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
        # The results are plain pages: one query per page type gives them their own fields.
        found = [result.pk for result in page]
        specific = Page.objects.filter(pk__in=found).specific().in_bulk()
        context.update(
            page_obj=page,
            results=[
                (specific[pk], isinstance(specific[pk], NoticePage))
                for pk in found
                if pk in specific  # not deleted meanwhile
            ],
            page_range=paginator.get_elided_page_range(page.number),
        )
    return TemplateResponse(request, "cms/search.html", context)
