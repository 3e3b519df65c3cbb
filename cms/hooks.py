"""What the CMS adds to the layer below it (portal), through the extension points that layer
declares (portal.core.registry, docs/architecture.md). Imported once, by ``CmsConfig.ready``."""

from portal import integration_api

from . import api

integration_api.api.add_router("", api.router)
