"""Content in Chinese and English (docs/cms.md, "Languages").

Chinese (``LANGUAGE_CODE``) is the site's own language: every page is written in Chinese first,
and an English page is a translation of one (Wagtail's localisation: the same ``translation_key``
in the ``en`` locale, made with "Translate", ``wagtail.contrib.simple_translation``). A visitor's
language is the one LocaleMiddleware chose (``request.LANGUAGE_CODE``: the language switch's
cookie, then the browser's), and the address is the same in both languages:

- **Routing** always walks the Chinese tree (``HomePage.route``), so an address means one page in
  both languages, and a page not translated yet is still found.
- **Serving** (``serve_in_language``, Wagtail's ``on_serve_page`` hook): the page found is served
  in the visitor's language when a live translation exists (an alias is not a translation: it
  shows the Chinese text); otherwise the Chinese page, with ``request.content_untranslated`` set,
  so the page says so (templates/base.html).
- **Lists** (``localize``): built from the Chinese pages (what is live, the filters, the order),
  each shown once, as its live translation in the visitor's language when there is one: one query
  for a whole page of results.
- **Addresses** (``SameAddressMixin``, ``slug_follows``, ``place_follows``): a translation keeps
  its Chinese page's slug and place in the tree, so Wagtail gives it the same URL.
- **Shared facts** (``translation_shared_fields``: a notice's kind, times and places): the Chinese
  page's. A translation copies them whenever it is saved, and publishing the Chinese page copies
  them to its translations (``shared_fields_follow``), so a translation never disagrees with it.
  Unpublishing (or deleting) the Chinese page unpublishes its translations.
- **Editors** (``home_rights_follow``): a translation of the home page gets the page rights and
  the workflow of the Chinese home, so English pages go through the same review.
"""

import logging
from collections.abc import Iterable

from django.conf import settings
from django.utils import translation
from wagtail.coreutils import get_supported_content_language_variant
from wagtail.models import GroupPagePermission, Locale, Page, Site, WorkflowPage

logger = logging.getLogger("powerhall.cms")


def default_language() -> str:
    """The site's own content language (Chinese), the one every page is written in first."""
    return get_supported_content_language_variant(settings.LANGUAGE_CODE)


def content_language() -> str:
    """The content language for the active language (the visitor's)."""
    try:
        return get_supported_content_language_variant(translation.get_language())
    except LookupError:
        return default_language()


def _live_translations(model, keys: Iterable, *, language: str, specific=False) -> dict:
    """translation_key → the live translation in ``language`` (never an alias), in one query
    (and one per page type if ``specific``)."""
    found = model.objects.live().filter(
        translation_key__in=list(keys), locale__language_code=language, alias_of__isnull=True
    )
    if specific:
        found = found.specific()
    return {page.translation_key: page for page in found}


def localize(pages: Iterable[Page], *, language: str | None = None) -> list[Page]:
    """``pages`` (Chinese pages) as the visitor should see them: each one's live translation in
    ``language`` (the active one by default) where it exists, else the page itself. Every page
    returned carries ``original`` (the Chinese page it stands for) and, for a visitor reading
    another language than Chinese, ``content_language`` (the language of its text)."""
    pages = list(pages)
    language = language or content_language()
    if language == default_language() or not pages:
        for page in pages:
            page.original = page
        return pages
    # Pages of one type are translated by that type's query; mixed ones as plain pages made
    # specific (one query per type).
    models = {type(page) for page in pages}
    mixed = len(models) > 1
    translations = _live_translations(
        Page if mixed else models.pop(),
        {page.translation_key for page in pages},
        language=language,
        specific=mixed,
    )
    shown = []
    for page in pages:
        translated = translations.get(page.translation_key)
        if translated is None:
            page.content_language = default_language()
            translated = page
        else:
            translated.content_language = language
        translated.original = page
        shown.append(translated)
    return shown


def serve_in_language(serve):
    """Wagtail's ``on_serve_page`` hook: the page routing found (Chinese) is served in the
    visitor's language if it has a live translation in it, else as it is, marking the request
    (``content_untranslated``) so the page tells the visitor. Registered outside Wagtail's own
    hooks, so the view restrictions checked are the served page's."""

    def inner(page, request, serve_args, serve_kwargs):
        page.original = page
        language = content_language()
        if language != default_language():
            translated = _live_translations(
                type(page), [page.translation_key], language=language
            ).get(page.translation_key)
            if translated is None:
                request.content_untranslated = True
            else:
                translated.original = page
                page = translated
        return serve(page, request, serve_args, serve_kwargs)

    return inner


# --- Keeping a translation at its Chinese page's address, with its facts -------------------------
class SameAddressMixin:
    """For page types editors translate: a translation keeps the slug of its Chinese page (so,
    its parent being the translation of the Chinese page's parent, the same address) and the
    values of ``translation_shared_fields``, set again whenever it is validated (the editor's
    form, a save, a publication)."""

    translation_shared_fields: tuple[str, ...] = ()

    def find_original(self):
        """The Chinese page this page translates, or None (a Chinese page, an alias, a page with
        no Chinese original)."""
        if self.alias_of_id is not None or self.locale_id is None:
            return None
        return (
            type(self)
            .objects.filter(
                translation_key=self.translation_key, locale__language_code=default_language()
            )
            .exclude(locale_id=self.locale_id)
            .first()
        )

    def clean(self):
        original = self.find_original()
        self.translates = original
        if original is not None:
            if self.depth and self.depth > 2:  # a site's home page keeps its own slug
                self.slug = original.slug
            for name in self.translation_shared_fields:
                setattr(self, name, getattr(original, name))
        super().clean()


def _translations_of(page, model=Page):
    """The other-language translations of ``page`` (not its aliases)."""
    return model.objects.filter(
        translation_key=page.translation_key, alias_of__isnull=True
    ).exclude(locale_id=page.locale_id)


def _is_original(page) -> bool:
    return page.alias_of_id is None and page.locale.language_code == default_language()


def shared_fields_follow(sender, instance, **kwargs):
    """``page_published``: a Chinese page's shared facts, copied to its translations (their live
    and draft rows; a draft revision gets them again when it is saved or published). Wagtail
    sends this too for a revision scheduled to go live later: its facts follow when it does."""
    fields = getattr(instance, "translation_shared_fields", ())
    if not fields or not instance.live or not _is_original(instance):
        return
    _translations_of(instance, type(instance)).update(
        **{name: getattr(instance, name) for name in fields}
    )


def _translations_unpublish(original, *, expired: bool = False) -> None:
    for page in _translations_of(original).live().specific():
        page.unpublish(set_expired=expired)


def unpublished_follows(sender, instance, **kwargs):
    """``page_unpublished``: a Chinese page taken off the site (by an editor, or expired by the
    scheduler) takes its translations with it: nothing would lead to them, and a cancelled
    outage must leave every reader's dashboard."""
    if _is_original(instance):
        _translations_unpublish(instance, expired=instance.expired)


def deleted_follows(sender, instance, **kwargs):
    """``post_delete`` of a page: a Chinese page deleted, its translations are unpublished (kept
    for the editors, who may delete them)."""
    if (
        instance.alias_of_id is None
        and Locale.objects.filter(pk=instance.locale_id, language_code=default_language()).exists()
    ):
        _translations_unpublish(instance)


def slug_follows(sender, instance, instance_before, **kwargs):
    """``page_slug_changed``: a Chinese page's new slug, given to its translations (with their
    descendants' paths), so they keep its address."""
    if instance.depth <= 2 or not _is_original(instance):
        return
    for page in _translations_of(instance).exclude(slug=instance.slug):
        page.slug = instance.slug
        page.save(clean=False)


def place_follows(sender, instance, parent_page_before, parent_page_after, **kwargs):
    """``post_page_move``: a Chinese page moved under another parent; its translations move under
    that parent's translation in their language. Where the new parent has none yet, the
    translation stays (and keeps the old address) until the parent is translated and the page
    moved again."""
    if parent_page_before.pk == parent_page_after.pk or not _is_original(instance):
        return
    for page in _translations_of(instance).select_related("locale"):
        parent = parent_page_after.get_translation_or_none(page.locale)
        if parent is None:
            logger.warning(
                "page %s moved: its %s translation %s stays, its new parent is not translated",
                instance.pk,
                page.locale.language_code,
                page.pk,
            )
        elif page.get_parent().pk != parent.pk:
            page.move(parent, pos="last-child")


def home_rights_follow(sender, source_obj, target_obj, **kwargs):
    """``copy_for_translation_done``: a translation of the site's home page (made by "Translate",
    or as the parent of a page translated with its parents) gets the home's page rights (its
    groups') and workflow, so editors and reviewers work on the English pages as on the Chinese
    ones. (Pages under it inherit them.)"""
    site = Site.objects.filter(is_default_site=True).select_related("root_page").first()
    if site is None:
        return
    home = site.root_page
    roots = list(_translations_of(home))
    covered = set(WorkflowPage.objects.filter(page__in=roots).values_list("page_id", flat=True))
    workflow = WorkflowPage.objects.filter(page=home).first()
    rights = list(
        GroupPagePermission.objects.filter(page=home).values_list("group_id", "permission_id")
    )
    for root in roots:
        if root.pk in covered:
            continue
        for group_id, permission_id in rights:
            GroupPagePermission.objects.get_or_create(
                group_id=group_id, page=root, permission_id=permission_id
            )
        if workflow is not None:
            WorkflowPage.objects.get_or_create(page=root, defaults={"workflow": workflow.workflow})
