"""Demo data for `make run` (``manage.py seed_demo``): the users, accounts and organisation are
the portal's; the apps above add theirs through these extension points (portal.core.registry),
called in registration order with ``stdout`` for progress. Each seeder is idempotent.
"""

from portal.core.registry import Registry

demo_reference_data = Registry("demo reference data")
"""``seed(*, stdout)``, before the demo accounts are made: data the accounts refer to (tariffs)."""

demo_data = Registry("demo data")
"""``seed(*, stdout)``, after the demo users and accounts exist (bills and payments)."""
