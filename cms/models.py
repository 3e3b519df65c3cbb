import json
from datetime import timedelta

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.core.validators import RegexValidator
from django.db import models, transaction
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import FieldPanel, FieldRowPanel, MultiFieldPanel
from wagtail.contrib.settings.models import BaseSiteSetting, register_setting
from wagtail.fields import RichTextField, StreamField
from wagtail.models import Page, Site
from wagtail.search import index

from portal.core import clock
from portal.core.replica import reads_may_lag
from portal.models import ServiceAccount

from .blocks import ContentBlocks, FaqBlocks, GuideBlocks, HomeBlocks
from .commitments import commitments_published
from .forms import NoticePageForm
from .outages import known_places
from .tariffs import tariffs_published
from .translation import SameAddressMixin, default_language, localize


class HomePage(Page):
    """The front page: an introduction, then the blocks editors arrange (service shortcuts, the
    latest notices, the notice search by district, the hotline, text)."""

    intro = RichTextField(_("introduction"), blank=True, features=["bold", "italic", "link"])
    body = StreamField(HomeBlocks(), blank=True, verbose_name=_("blocks"))

    content_panels = Page.content_panels + [FieldPanel("intro"), FieldPanel("body")]

    parent_page_types = ["wagtailcore.Page"]
    subpage_types = [
        "cms.NoticeIndexPage",
        "cms.CommitmentsPage",
        "cms.TariffsPage",
        "cms.GuidePage",
        "cms.FaqPage",
        "cms.StandardPage",
    ]
    max_count = 1

    class Meta:
        verbose_name = _("home page")

    def route(self, request, path_components):
        # An address means the same page in every language (cms/translation.py): Wagtail starts
        # from the home page in the visitor's language, and an English one hands over to the
        # site's own (Chinese), whose tree holds every page; serving then picks the visitor's
        # translation. (The site is the one Wagtail found for this request, kept on it.)
        site = Site.find_for_request(request)
        if (
            site is not None
            and site.root_page_id != self.pk
            and site.root_page.translation_key == self.translation_key
        ):
            return site.root_page.specific.route(request, path_components)
        return super().route(request, path_components)


# --- Notices (通知公告) ---------------------------------------------------------------------------
class NoticeKind(models.TextChoices):
    PLANNED_OUTAGE = "planned_outage", _("Planned outage")
    FAULT_OUTAGE = "fault_outage", _("Fault outage")
    TARIFF_CHANGE = "tariff_change", _("Tariff change")
    GENERAL = "general", _("General notice")


OUTAGE_KINDS = (NoticeKind.PLANNED_OUTAGE, NoticeKind.FAULT_OUTAGE)
# The commitment: a planned outage is announced at least this many days before it starts.
PLANNED_OUTAGE_NOTICE_DAYS = 7


class NoticeSource(models.TextChoices):
    EDITOR = "editor", _("Written by an editor")
    OUTAGE_SYSTEM = "outage_system", _("Sent by the outage management system")


class NoticeIndexPage(SameAddressMixin, Page):
    """The list of notices (通知公告), newest first, filtered by kind and district; each notice
    once, in the visitor's language where it is translated."""

    intro = RichTextField(_("introduction"), blank=True, features=["bold", "italic", "link"])

    content_panels = Page.content_panels + [FieldPanel("intro")]
    parent_page_types = ["cms.HomePage"]
    subpage_types = ["cms.NoticePage"]
    max_count = 1
    per_page = 20

    class Meta:
        verbose_name = _("notice index")

    def notices(self, *, kind: str = "", district: str = ""):
        """The live notices (the Chinese pages: ``localize`` shows their translations), newest
        first; ``district``: those naming it (outages by their districts, or by the districts of
        their feeders' accounts)."""
        notices = NoticePage.objects.live().filter(locale__language_code=default_language())
        if kind in NoticeKind.values:
            notices = notices.filter(kind=kind)
        if district:
            notices = notices.filter(pk__in=_notices_naming(district))
        return notices.order_by("-first_published_at", "-pk")

    @reads_may_lag
    def serve(self, request, *args, **kwargs):
        """The list may read from the read replica (portal/core/replica.py): a publication
        shows a few seconds later at most. Not so for the anonymous page cache's misses."""
        return super().serve(request, *args, **kwargs)

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        kind = request.GET.get("kind", "")
        district = request.GET.get("district", "").strip()[:100]
        paginator = Paginator(self.notices(kind=kind, district=district), self.per_page)
        page = paginator.get_page(request.GET.get("page"))
        page.object_list = localize(page.object_list)
        context.update(
            page_obj=page,
            page_range=paginator.get_elided_page_range(page.number),
            kinds=NoticeKind.choices,
            kind=kind,
            district=district,
            districts=known_places()["districts"],
            params=request.GET.copy(),
        )
        return context


class NoticePage(SameAddressMixin, Page):
    """One notice. An outage names what it cuts off (districts and feeders/台区, the values the
    electricity accounts carry) and when, so the affected customers can be told
    (``cms.outages``); a planned outage published less than 7 days before it starts says why.
    A translation words it (title, reason, body) and takes the rest from the Chinese notice."""

    kind = models.CharField(
        _("kind"), max_length=20, choices=NoticeKind.choices, default=NoticeKind.GENERAL
    )
    districts = models.JSONField(_("districts affected"), default=list, blank=True)
    feeders = models.JSONField(
        _("feeders affected"),
        default=list,
        blank=True,
        help_text=_("Empty: every account in the districts affected."),
    )
    starts_at = models.DateTimeField(_("starts"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    body = RichTextField(_("body"), blank=True)
    short_notice_reason = models.TextField(
        _("why less than 7 days' notice"),
        blank=True,
        help_text=_(
            "A planned outage is announced at least 7 days before it starts; when it cannot be, "
            "say why (the reason is kept with the notice)."
        ),
    )
    source = models.CharField(
        _("source"), max_length=20, choices=NoticeSource.choices, default=NoticeSource.EDITOR
    )
    external_id = models.CharField(
        _("outage system reference"), max_length=64, blank=True, db_index=True
    )

    short_notice = models.BooleanField(_("less than 7 days' notice"), default=False, editable=False)
    """Set when saved: a planned outage starting less than 7 days after it was (or is being)
    first published. The admin lists it."""

    content_panels = Page.content_panels + [
        FieldPanel("kind"),
        MultiFieldPanel(
            [
                FieldRowPanel([FieldPanel("starts_at"), FieldPanel("ends_at")]),
                FieldPanel("districts"),
                FieldPanel("feeders"),
                FieldPanel("reason"),
                FieldPanel("short_notice_reason"),
            ],
            heading=_("Outage"),
        ),
        FieldPanel("body"),
    ]
    promote_panels = Page.promote_panels
    # What happens, where and when, and how it was announced: the Chinese notice's.
    translation_shared_fields = (
        "kind",
        "districts",
        "feeders",
        "starts_at",
        "ends_at",
        "short_notice",
        "short_notice_reason",
        "source",
        "external_id",
    )
    search_fields = Page.search_fields + [
        index.SearchField("body"),
        index.SearchField("reason"),
        index.FilterField("kind"),
        index.FilterField("starts_at"),
    ]
    base_form_class = NoticePageForm

    parent_page_types = ["cms.NoticeIndexPage"]
    subpage_types: list[str] = []

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        indexes = [models.Index(fields=["kind", "starts_at"], name="notice_kind_start")]

    @property
    def is_outage(self) -> bool:
        return self.kind in OUTAGE_KINDS

    def announced_late(self, *, published_at) -> bool:
        """A planned outage announced less than 7 days before it starts (the commitment)."""
        return (
            self.kind == NoticeKind.PLANNED_OUTAGE
            and self.starts_at is not None
            and self.starts_at - published_at < timedelta(days=PLANNED_OUTAGE_NOTICE_DAYS)
        )

    def clean(self):
        super().clean()
        if self.translates is not None:
            return  # its facts are the Chinese notice's, checked there
        errors = {}
        if self.is_outage:
            if not self.districts and not self.feeders:
                errors["districts"] = _("Name the districts or the feeders the outage cuts off.")
            if self.starts_at is None:
                errors["starts_at"] = _("Give the time the outage starts.")
            if self.kind == NoticeKind.PLANNED_OUTAGE and self.ends_at is None:
                errors["ends_at"] = _("Give the time supply is planned to be back.")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = _("The end must come after the start.")
        self.short_notice = self.announced_late(published_at=self.first_published_at or clock.now())
        if self.short_notice and not self.short_notice_reason.strip():
            errors["short_notice_reason"] = _(
                "This planned outage starts less than 7 days from now: say why it could not be "
                "announced earlier."
            )
        if errors:
            raise ValidationError(errors)


def _notices_naming(district: str) -> list[int]:
    """The ids of the notices that name ``district``, directly or through one of its feeders.
    (The lists are JSON, read here in Python: thousands of notices, not millions.)"""
    feeders = set(
        ServiceAccount.objects.filter(district=district)
        .exclude(feeder="")
        .values_list("feeder", flat=True)
        .distinct()
    )
    return [
        pk
        for pk, districts, notice_feeders in NoticePage.objects.filter(
            locale__language_code=default_language()
        ).values_list("pk", "districts", "feeders")
        if district in (districts or []) or feeders & set(notice_feeders or [])
    ]


# --- Site settings --------------------------------------------------------------------------------
HOTLINES_CACHE_KEY = "cms:service-settings:hotlines"
# Saving the settings clears the cache at once; the timeout only bounds a change made around it
# (a queryset update, a restored backup).
HOTLINES_CACHE_SECONDS = 3600


def hotlines_forget() -> None:
    cache.delete(HOTLINES_CACHE_KEY)


@register_setting(icon="mobile-alt")
class ServiceSettings(BaseSiteSetting):
    """What the site tells customers about reaching the company, per site (Settings → Service
    settings). Every page's header and footer show the hotline, so it is read from the cache:
    ``hotline_for`` costs no query when the cache holds it."""

    hotline = models.CharField(
        _("service hotline"),
        max_length=20,
        blank=True,
        validators=[
            RegexValidator(r"^\+?[0-9][0-9 -]*$", _("Digits only, with spaces or dashes."))
        ],
        help_text=_(
            "Shown in the header, the footer and on the home page. Empty: the number the portal "
            "is configured with."
        ),
    )

    panels = [FieldPanel("hotline")]

    class Meta:
        verbose_name = _("Service settings")

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        transaction.on_commit(hotlines_forget)

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        transaction.on_commit(hotlines_forget)
        return result

    @classmethod
    def hotline_for(cls, request) -> str:
        """The hotline of the request's site, or "" if its settings give none."""
        hotlines = cache.get(HOTLINES_CACHE_KEY)
        if hotlines is None:
            hotlines = dict(cls.objects.exclude(hotline="").values_list("site_id", "hotline"))
            cache.set(HOTLINES_CACHE_KEY, hotlines, HOTLINES_CACHE_SECONDS)
        if not hotlines:  # no site has its own: no need to find the request's site
            return ""
        site = Site.find_for_request(request)
        return hotlines.get(site.pk, "") if site else ""


# --- Service content ------------------------------------------------------------------------------
INTRO_FEATURES = ["bold", "italic", "link"]


class CommitmentsPage(SameAddressMixin, Page):
    """The service commitments (供电服务承诺), rendered from the set the portal keeps: the rows
    the application clocks count against, so the page can never disagree with them."""

    intro = RichTextField(_("introduction"), blank=True, features=INTRO_FEATURES)

    content_panels = Page.content_panels + [FieldPanel("intro")]
    search_fields = Page.search_fields + [index.SearchField("intro")]
    page_description = _(
        "The time limits come from the commitment set in use (Service commitments in the back "
        "office); the page adds only its introduction."
    )

    parent_page_types = ["cms.HomePage"]
    subpage_types: list[str] = []
    max_count = 1

    class Meta:
        verbose_name = _("service commitments page")

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        context["published"] = commitments_published()
        return context


class TariffsPage(SameAddressMixin, Page):
    """The tariffs (电价标准) by region, rendered from the prices bills are explained with: each
    tariff's version in force today and any announced after it."""

    intro = RichTextField(_("introduction"), blank=True, features=INTRO_FEATURES)

    content_panels = Page.content_panels + [FieldPanel("intro")]
    search_fields = Page.search_fields + [index.SearchField("intro")]
    page_description = _(
        "The prices come from the tariffs and their versions (Tariffs and penalties in the back "
        "office); the page adds only its introduction."
    )

    parent_page_types = ["cms.HomePage"]
    subpage_types: list[str] = []
    max_count = 1

    class Meta:
        verbose_name = _("tariffs page")

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        context["today"] = clock.today()
        context["regions"] = tariffs_published(on=context["today"])
        return context


class GuidePage(SameAddressMixin, Page):
    """How to apply for something: text, and the documents a kind of application needs, from
    the lists the application wizard shows."""

    intro = RichTextField(_("introduction"), blank=True, features=INTRO_FEATURES)
    body = StreamField(GuideBlocks(), blank=True, verbose_name=_("body"))

    content_panels = Page.content_panels + [FieldPanel("intro"), FieldPanel("body")]
    search_fields = Page.search_fields + [index.SearchField("intro"), index.SearchField("body")]
    page_description = _("How to apply: text, and a kind's documents as the application asks.")

    parent_page_types = ["cms.HomePage", "cms.StandardPage"]
    subpage_types: list[str] = []

    class Meta:
        verbose_name = _("guide")
        verbose_name_plural = _("guides")


class FaqPage(SameAddressMixin, Page):
    """Questions and answers, each a block; search engines read them as an FAQPage."""

    intro = RichTextField(_("introduction"), blank=True, features=INTRO_FEATURES)
    body = StreamField(FaqBlocks(), blank=True, verbose_name=_("questions"))

    content_panels = Page.content_panels + [FieldPanel("intro"), FieldPanel("body")]
    search_fields = Page.search_fields + [index.SearchField("intro"), index.SearchField("body")]
    page_description = _("Frequently asked questions, each with its answer.")

    parent_page_types = ["cms.HomePage", "cms.StandardPage"]
    subpage_types: list[str] = []

    class Meta:
        verbose_name = _("FAQ page")
        verbose_name_plural = _("FAQ pages")

    def json_ld(self) -> str:
        """The questions as schema.org FAQPage data, safe inside a <script> element."""
        data = {
            "@context": "https://schema.org",
            "@type": "FAQPage",
            "mainEntity": [
                {
                    "@type": "Question",
                    "name": block.value["question"],
                    "acceptedAnswer": {"@type": "Answer", "text": str(block.value["answer"])},
                }
                for block in self.body
                if block.block_type == "question"
            ],
        }
        # As Django's json_script: no "<", ">" or "&" can end the script element early.
        text = json.dumps(data, ensure_ascii=False)
        return mark_safe(text.translate(_SCRIPT_ESCAPES))  # noqa: S308  # nosec


_SCRIPT_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


class StandardPage(SameAddressMixin, Page):
    """Any other content (about us, service points…): a body of blocks, and a list of the pages
    under it, so it can head a section."""

    intro = RichTextField(_("introduction"), blank=True, features=INTRO_FEATURES)
    body = StreamField(ContentBlocks(), blank=True, verbose_name=_("body"))

    content_panels = Page.content_panels + [FieldPanel("intro"), FieldPanel("body")]
    search_fields = Page.search_fields + [index.SearchField("intro"), index.SearchField("body")]
    page_description = _("Any other content; it lists the pages under it.")

    parent_page_types = ["cms.HomePage", "cms.StandardPage"]
    subpage_types = ["cms.StandardPage", "cms.GuidePage", "cms.FaqPage"]

    class Meta:
        verbose_name = _("standard page")

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        # The Chinese page's children, each in the visitor's language where translated.
        chinese = getattr(self, "original", None) or self.find_original() or self
        context["children"] = localize(chinese.get_children().live().public())
        return context
