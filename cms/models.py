from django.db import models
from django.utils.translation import gettext_lazy as _
from modelcluster.fields import ParentalKey
from wagtail.admin.panels import FieldPanel, InlinePanel
from wagtail.fields import RichTextField
from wagtail.models import Orderable, Page


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
