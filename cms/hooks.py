"""What the CMS adds to the layers below it (portal), through the extension points they declare
(portal.core.registry, docs/architecture.md), and what it does when Wagtail publishes a page.
Imported once, by ``CmsConfig.ready``."""

from functools import partial

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save
from django.dispatch import receiver
from wagtail.models import Page
from wagtail.signals import (
    copy_for_translation_done,
    page_published,
    page_slug_changed,
    page_unpublished,
    post_page_move,
)

from portal import context_processors, demo, integration_api, selectors
from portal.core import replica

from . import api, page_cache, reach, tasks, translation
from .demo import seed_cms
from .models import NoticePage, ServiceSettings

# Each dashboard card's current and upcoming outages.
selectors.account_card_live_providers.register(reach.outages_on_cards)

# The outage management system's planned outages, as draft notices (POST /outages).
integration_api.api.add_router("", api.router)

# make run's demo: notices, guides and pages, after the demo users and accounts exist.
demo.demo_data.register(seed_cms)

# Read from the primary even in views whose reads may lag (portal/core/replica.py): each fills a
# cache that a change empties (Wagtail's site root paths, the hotlines), and a read from a
# replica that has not replayed the change yet would put the old value back for an hour.
replica.keep_on_primary("wagtailcore.site", "cms.servicesettings")


@context_processors.hotline_providers.register
def hotline_from_site_settings(request) -> str:
    """The hotline of the request's site (Settings → Service settings), from the cache."""
    return ServiceSettings.hotline_for(request)


@receiver(page_published, sender=NoticePage, dispatch_uid="cms.outage_published")
def outage_published(sender, instance, **kwargs):
    """An outage notice published (by an editor, a reviewer's approval or the scheduler): tell
    the people it reaches, in a background task once the publish is committed. Wagtail also
    sends this for a page scheduled to go live later (not live yet): nothing to tell then. A
    translation tells nobody: its times and places are the Chinese notice's, whose publication
    told everyone, each in their language."""
    if not (instance.live and instance.is_outage) or not _tells(instance):
        return
    # robust: the notice stays published if the queue is unreachable (the error is logged);
    # publishing it again enqueues the same version again, and only those not told are told.
    transaction.on_commit(
        partial(
            tasks.outage_fan_out.enqueue,
            notice=instance.pk,
            version=reach.outage_version(instance),
        ),
        robust=True,
    )


@receiver(page_unpublished, sender=NoticePage, dispatch_uid="cms.outage_unpublished")
def outage_unpublished(sender, instance, **kwargs):
    """An outage notice taken off the site by an editor, unpublished or deleted (Wagtail
    unpublishes a live page before deleting it), before the outage is over: a cancellation
    (``reach.outage_cancel``), and the people told of it are told so, by a background task once
    the change is committed. Expiring is not a cancellation: the scheduler takes a notice off
    the site when its outage is over. A translation tells nobody, as when it is published."""
    if instance.expired or not _tells(instance):
        return
    cancel = reach.outage_cancel(notice=instance)
    if cancel is not None:
        transaction.on_commit(partial(tasks.outage_cancel_fan_out.enqueue, **cancel), robust=True)


def _tells(notice: NoticePage) -> bool:
    """Whether the notice's publication and cancellation tell people: the Chinese notice's do,
    its translations' and aliases' (copies of it that Wagtail publishes with it) do not."""
    return notice.alias_of_id is None and notice.find_original() is None


# A translation keeps its Chinese page's address and facts, and the home's translations its
# rights and workflow (cms/translation.py).
page_published.connect(translation.shared_fields_follow, dispatch_uid="cms.translation_facts")
page_unpublished.connect(translation.unpublished_follows, dispatch_uid="cms.translation_off")
post_delete.connect(translation.deleted_follows, sender=Page, dispatch_uid="cms.translation_off")
page_slug_changed.connect(translation.slug_follows, dispatch_uid="cms.translation_slug")
post_page_move.connect(translation.place_follows, dispatch_uid="cms.translation_place")
copy_for_translation_done.connect(
    translation.home_rights_follow, dispatch_uid="cms.translation_rights"
)


# --- The anonymous page cache (cms/page_cache.py): what public pages show has changed ----------
# Whole apps whose rows public pages show, and the rows of lower layers the CMS renders (the
# commitments page, the guides' document lists, the tariff page). Rows that change without
# changing any public page (log entries, revisions, workflow states, the reference index, image
# renditions made while a page renders) are left out, or every render would empty the cache.
PAGE_CACHE_APPS = frozenset({"wagtailcore", "wagtailimages", "wagtaildocs", "cms", "taggit"})
PAGE_CACHE_MODELS = frozenset(
    {
        "applications.CommitmentRuleSet",
        "applications.CommitmentRule",
        "applications.ApplicationKind",
        "applications.KindVersion",
        "applications.KindStep",
        "applications.KindDocument",
        "payments.Tariff",
        "payments.TariffVersion",
        "payments.TariffBand",
    }
)
PAGE_CACHE_IGNORED = frozenset(
    {
        "wagtailcore.Revision",
        "wagtailcore.PageLogEntry",
        "wagtailcore.ModelLogEntry",
        "wagtailcore.ReferenceIndex",
        "wagtailcore.TaskState",
        "wagtailcore.WorkflowState",
        "wagtailcore.PageSubscription",
        "wagtailcore.Comment",
        "wagtailcore.CommentReply",
        "wagtailimages.Rendition",
    }
)


def _shown_on_pages(model) -> bool:
    label = model._meta.label
    if label in PAGE_CACHE_IGNORED:
        return False
    return label in PAGE_CACHE_MODELS or model._meta.app_label in PAGE_CACHE_APPS


def page_content_changed(sender, **kwargs):
    if _shown_on_pages(sender):
        page_cache.bump_on_commit(sender._meta.label)


def page_moved(sender, **kwargs):
    page_cache.bump_on_commit("page moved")


def migrated(sender, **kwargs):
    page_cache.bump("migrate")


for _signal in (post_save, post_delete, m2m_changed):
    _signal.connect(page_content_changed, dispatch_uid=f"cms.page_cache.{_signal!r}")
post_page_move.connect(page_moved, dispatch_uid="cms.page_cache.move")
post_migrate.connect(migrated, dispatch_uid="cms.page_cache.migrate")
