"""What the applications app adds to the layer below it (portal), through the extension points
that layer declares (portal.core.registry, docs/architecture.md). Imported once, by
``ApplicationsConfig.ready``."""

from portal import demo

from .demo import seed_applications

# make run's demo: the demo users' applications, after their accounts exist.
demo.demo_data.register(seed_applications)
