"""What the CMS adds to the layers below it (portal), through the extension points they declare
(portal.core.registry, docs/architecture.md), and what it does when Wagtail publishes a page.
Imported once, by ``CmsConfig.ready``."""

from functools import partial

from django.db import transaction
from django.dispatch import receiver
from wagtail.signals import page_published

from portal import context_processors, demo, integration_api, selectors

from . import api, reach, tasks
from .demo import seed_cms
from .models import NoticePage, ServiceSettings

# Each dashboard card's current and upcoming outages.
selectors.account_card_providers.register(reach.outages_on_cards)

# The outage management system's planned outages, as draft notices (POST /outages).
integration_api.api.add_router("", api.router)

# make run's demo: notices, guides and pages, after the demo users and accounts exist.
demo.demo_data.register(seed_cms)


@context_processors.hotline_providers.register
def hotline_from_site_settings(request) -> str:
    """The hotline of the request's site (Settings → Service settings), from the cache."""
    return ServiceSettings.hotline_for(request)


@receiver(page_published, sender=NoticePage, dispatch_uid="cms.outage_published")
def outage_published(sender, instance, **kwargs):
    """An outage notice published (by an editor, a reviewer's approval or the scheduler): tell
    the people it reaches, in a background task once the publish is committed. Wagtail also
    sends this for a page scheduled to go live later (not live yet): nothing to tell then."""
    if not (instance.live and instance.is_outage):
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
