"""powerhall settings.

One switch, ``POWERHALL_ENV``, picks the mode: ``development`` (the default: embedded SQLite,
files, in-process tasks; runs with no environment at all) or ``production`` (every secret and
service must be configured, or start-up stops with a message naming what is missing). The
database is chosen separately by ``DATABASE_URL`` so the tests run in development mode on SQLite
and on PostgreSQL. Every variable is documented in docs/configuration.md.
"""

import os

from django.core.exceptions import ImproperlyConfigured

POWERHALL_ENV = os.environ.get("POWERHALL_ENV", "development").strip().lower()

if POWERHALL_ENV == "production":
    from .production import *  # noqa: F403
elif POWERHALL_ENV == "development":
    from .development import *  # noqa: F403
else:
    raise ImproperlyConfigured(
        f"POWERHALL_ENV must be 'development' or 'production', not {POWERHALL_ENV!r}."
    )
