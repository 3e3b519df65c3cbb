"""The blocks editors arrange pages with (StreamField): the home page's service shortcuts, latest
notices, notice search and hotline; headings, text and images for every page; a guide's list of
the documents a kind of application needs; an FAQ's questions.

Blocks that show data read it when they render, from the same source the rest of the site uses:
the notices (``cms.NoticePage``, looked up through the app registry because the page models
import these blocks; the Chinese ones, each shown in the visitor's language, ``cms.translation``),
the districts the accounts carry (``cms.outages.known_places``), the documents the application
wizard lists (``applications.kinds.documents_for``) and the hotline of the site settings (the
``SERVICE_HOTLINE`` the context processor gives every template).
"""

from django.apps import apps
from django.core.cache import cache
from django.core.validators import RegexValidator
from django.db.models import prefetch_related_objects
from django.utils.translation import gettext_lazy as _
from wagtail import blocks
from wagtail.images.blocks import ImageBlock

from applications.kinds import documents_for, kind_versions_current
from applications.models import Category
from portal.models import CustomerClass

from .outages import known_places
from .translation import default_language, localize

NOTICES_URL = "/notices/"
DISTRICTS_CACHE_KEY = "cms:home:districts"
# The districts change only when the account import brings a new one: a few minutes' delay in the
# search form's list is harmless, a DISTINCT over every account on each home page view is not.
DISTRICTS_CACHE_SECONDS = 600

TEXT_FEATURES = ["h3", "h4", "bold", "italic", "link", "document-link", "ol", "ul"]


def districts_known() -> list[str]:
    """The districts the accounts carry (``known_places``), cached for a few minutes."""
    districts = cache.get(DISTRICTS_CACHE_KEY)
    if districts is None:
        districts = known_places()["districts"]
        cache.set(DISTRICTS_CACHE_KEY, districts, DISTRICTS_CACHE_SECONDS)
    return districts


# --- The home page ------------------------------------------------------------------------------
class ShortcutBlock(blocks.StructBlock):
    """A tile pointing at a service (pay bills, apply, outage notices…)."""

    ICONS = [
        ("pay", _("Pay")),
        ("account", _("Accounts")),
        ("apply", _("Apply")),
        ("notice", _("Notices")),
        ("repair", _("Repair")),
        ("help", _("Help")),
    ]

    title = blocks.CharBlock(label=_("title"), max_length=40)
    description = blocks.CharBlock(label=_("description"), max_length=120, required=False)
    link_url = blocks.CharBlock(
        label=_("link"),
        max_length=200,
        help_text=_("A path on this site, such as /me/."),
        validators=[
            RegexValidator(
                r"^(/|https?://)", _("Give a path starting with / or an address with http(s)://.")
            )
        ],
    )
    icon = blocks.ChoiceBlock(label=_("icon"), choices=ICONS, default="help")

    class Meta:
        icon = "link"
        label = _("Shortcut")


class ShortcutsBlock(blocks.StructBlock):
    heading = blocks.CharBlock(
        label=_("heading"), required=False, help_text=_("Empty: “Online services”.")
    )
    shortcuts = blocks.ListBlock(
        ShortcutBlock(), label=_("Service shortcuts"), min_num=1, max_num=12
    )

    class Meta:
        icon = "grip"
        label = _("Service shortcuts")
        template = "cms/blocks/shortcuts.html"


class LatestNoticesBlock(blocks.StructBlock):
    """The newest live notices, with a link to all of them: each in the visitor's language
    where it is translated."""

    heading = blocks.CharBlock(
        label=_("heading"), required=False, help_text=_("Empty: “Latest notices”.")
    )
    count = blocks.IntegerBlock(label=_("how many"), min_value=1, max_value=20, default=5)

    class Meta:
        icon = "list-ul"
        label = _("Latest notices")
        template = "cms/blocks/latest_notices.html"

    def get_context(self, value, parent_context=None):
        context = super().get_context(value, parent_context=parent_context)
        notice_page = apps.get_model("cms", "NoticePage")
        context["notices"] = localize(
            notice_page.objects.live()
            .filter(locale__language_code=default_language())
            .order_by("-first_published_at", "-pk")[: value["count"]]
        )
        context["notices_url"] = NOTICES_URL
        return context


class NoticeSearchBlock(blocks.StructBlock):
    """A form for the notices of one district (the notice index's own filter)."""

    heading = blocks.CharBlock(
        label=_("heading"), required=False, help_text=_("Empty: “Outages in your district”.")
    )

    class Meta:
        icon = "search"
        label = _("Notice search by district")
        template = "cms/blocks/notice_search.html"

    def get_context(self, value, parent_context=None):
        context = super().get_context(value, parent_context=parent_context)
        context["districts"] = districts_known()
        context["notices_url"] = NOTICES_URL
        return context


class HotlineBlock(blocks.StructBlock):
    """The service hotline of the site settings (Settings → Service settings)."""

    heading = blocks.CharBlock(
        label=_("heading"),
        required=False,
        help_text=_("Empty: “Power cut or electrical emergency?”"),
    )
    text = blocks.CharBlock(
        label=_("text"),
        required=False,
        help_text=_("Empty: “Call us any time, 24 hours a day.”"),
    )

    class Meta:
        icon = "mobile-alt"
        label = _("Service hotline")
        template = "cms/blocks/hotline.html"


# --- Every page ---------------------------------------------------------------------------------
class HeadingBlock(blocks.CharBlock):
    class Meta:
        icon = "title"
        label = _("Heading")
        template = "cms/blocks/heading.html"


class ParagraphBlock(blocks.RichTextBlock):
    def __init__(self, **kwargs):
        super().__init__(features=TEXT_FEATURES, **kwargs)

    class Meta:
        icon = "pilcrow"
        label = _("Text")
        template = "cms/blocks/paragraph.html"


class FigureBlock(blocks.StructBlock):
    image = ImageBlock(label=_("image"))
    caption = blocks.CharBlock(label=_("caption"), required=False)

    class Meta:
        icon = "image"
        label = _("Image")
        template = "cms/blocks/figure.html"


# --- Guides and questions -----------------------------------------------------------------------
class KindDocumentsBlock(blocks.StructBlock):
    """The documents a kind of application needs, for each customer class: the list the
    application wizard shows before a customer starts (一次性告知), read when the page renders, so
    a guide never disagrees with it."""

    category = blocks.ChoiceBlock(label=_("kind of application"), choices=Category.choices)
    heading = blocks.CharBlock(
        label=_("heading"), required=False, help_text=_("Empty: “Documents you will need”.")
    )

    class Meta:
        icon = "doc-full"
        label = _("Documents for a kind of application")
        template = "cms/blocks/kind_documents.html"

    def get_context(self, value, parent_context=None):
        context = super().get_context(value, parent_context=parent_context)
        version = kind_versions_current().get(value["category"])
        context["open"] = version is not None
        context["groups"] = _document_groups(version) if version else []
        return context


def _document_groups(version) -> list[dict]:
    """The classes that need the same documents, together: [{classes, documents}], in the order
    of the customer classes, each group with the class to start an application as."""
    prefetch_related_objects([version], "documents")
    groups: list[dict] = []
    for customer_class in CustomerClass:
        documents = documents_for(version=version, customer_class=customer_class)
        key = [(doc.document, doc.required) for doc in documents]
        for group in groups:
            if group["key"] == key:
                group["classes"].append(customer_class.label)
                break
        else:
            groups.append(
                {
                    "key": key,
                    "classes": [customer_class.label],
                    "customer_class": customer_class.value,
                    "documents": documents,
                }
            )
    return groups


class QuestionBlock(blocks.StructBlock):
    question = blocks.CharBlock(label=_("question"), max_length=200)
    answer = blocks.RichTextBlock(label=_("answer"), features=TEXT_FEATURES)

    class Meta:
        icon = "help"
        label = _("Question")
        template = "cms/blocks/question.html"


# --- What each kind of page may hold -------------------------------------------------------------
class HomeBlocks(blocks.StreamBlock):
    shortcuts = ShortcutsBlock()
    latest_notices = LatestNoticesBlock()
    notice_search = NoticeSearchBlock()
    hotline = HotlineBlock()
    text = ParagraphBlock()


class ContentBlocks(blocks.StreamBlock):
    heading = HeadingBlock()
    paragraph = ParagraphBlock()
    image = FigureBlock()
    hotline = HotlineBlock()


class GuideBlocks(ContentBlocks):
    documents = KindDocumentsBlock()


class FaqBlocks(blocks.StreamBlock):
    heading = HeadingBlock()
    question = QuestionBlock()
