"""What the applications app adds to the layer below it (portal), through the extension points
that layer declares (portal.core.registry, docs/architecture.md). Imported once, by
``ApplicationsConfig.ready``."""

from portal import account_import, demo

from .connection import accounts_arrived
from .demo import seed_applications

# A new connection's account, bound to its applicant when the account import brings it.
account_import.accounts_created.register(accounts_arrived)

# make run's demo: the demo users' applications, after their accounts exist.
demo.demo_data.register(seed_applications)
