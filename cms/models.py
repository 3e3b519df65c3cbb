from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.utils.translation import gettext_lazy as _
from modelcluster.fields import ParentalKey
from wagtail.admin.panels import FieldPanel, FieldRowPanel, InlinePanel, MultiFieldPanel
from wagtail.fields import RichTextField
from wagtail.models import Orderable, Page
from wagtail.search import index

from portal.core import clock
from portal.models import ServiceAccount

from .forms import NoticePageForm
from .outages import known_places


class HomePage(Page):
    """The front page: an introduction and the service shortcuts, both editable."""

    intro = RichTextField(_("introduction"), blank=True, features=["bold", "italic", "link"])

    content_panels = Page.content_panels + [
        FieldPanel("intro"),
        InlinePanel("shortcuts", label=_("Service shortcuts"), max_num=12),
    ]

    parent_page_types = ["wagtailcore.Page"]
    max_count = 1

    class Meta:
        verbose_name = _("home page")


class HomeShortcut(Orderable):
    """A tile on the home page pointing at a service (pay bills, apply, outage notices…)."""

    ICONS = [
        ("pay", _("Pay")),
        ("account", _("Accounts")),
        ("apply", _("Apply")),
        ("notice", _("Notices")),
        ("repair", _("Repair")),
        ("help", _("Help")),
    ]

    page = ParentalKey(HomePage, on_delete=models.CASCADE, related_name="shortcuts")
    title = models.CharField(_("title"), max_length=40)
    description = models.CharField(_("description"), max_length=120, blank=True)
    link_url = models.CharField(
        _("link"), max_length=200, help_text=_("A path on this site, such as /me/.")
    )
    icon = models.CharField(_("icon"), max_length=20, choices=ICONS, default="help")

    panels = [
        FieldPanel("title"),
        FieldPanel("description"),
        FieldPanel("link_url"),
        FieldPanel("icon"),
    ]

    def __str__(self):
        return self.title


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


class NoticeIndexPage(Page):
    """The list of notices (通知公告), newest first, filtered by kind and district."""

    intro = RichTextField(_("introduction"), blank=True, features=["bold", "italic", "link"])

    content_panels = Page.content_panels + [FieldPanel("intro")]
    parent_page_types = ["cms.HomePage"]
    subpage_types = ["cms.NoticePage"]
    max_count = 1
    per_page = 20

    class Meta:
        verbose_name = _("notice index")

    def notices(self, *, kind: str = "", district: str = ""):
        """The live notices, newest first; ``district``: those naming it (outages by their
        districts, or by the districts of their feeders' accounts)."""
        notices = NoticePage.objects.child_of(self).live().specific()
        if kind in NoticeKind.values:
            notices = notices.filter(kind=kind)
        if district:
            notices = notices.filter(pk__in=_notices_naming(district))
        return notices.order_by("-first_published_at", "-pk")

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        kind = request.GET.get("kind", "")
        district = request.GET.get("district", "").strip()[:100]
        paginator = Paginator(self.notices(kind=kind, district=district), self.per_page)
        page = paginator.get_page(request.GET.get("page"))
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


class NoticePage(Page):
    """One notice. An outage names what it cuts off (districts and feeders/台区, the values the
    electricity accounts carry) and when, so the affected customers can be told
    (``cms.outages``); a planned outage published less than 7 days before it starts says why."""

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
        for pk, districts, notice_feeders in NoticePage.objects.values_list(
            "pk", "districts", "feeders"
        )
        if district in (districts or []) or feeders & set(notice_feeders or [])
    ]
