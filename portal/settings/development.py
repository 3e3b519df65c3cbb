"""The embedded default: runs with no environment at all.

SQLite under var/, media on the local disk, tasks run in-process, e-mail written to var/mail/ and
SMS to var/sms/ (so a demo user can read their codes), a per-process cache. Each of these can be
switched to the production service by setting its variable (DATABASE_URL, REDIS_URL, …), which is
how the test suite exercises both paths.
"""

import secrets

from .base import *  # noqa: F403
from .base import VAR_DIR
from .env import env_str

VAR_DIR.mkdir(parents=True, exist_ok=True)
# WhiteNoise serves from the source folders in development but expects STATIC_ROOT to exist.
(VAR_DIR / "static").mkdir(exist_ok=True)


def _local_secret(name: str) -> str:
    """A secret generated once per checkout and kept under var/ (never committed)."""
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY") or _local_secret("secret.key")
AUDIT_KEY = env_str("AUDIT_KEY") or _local_secret("audit.key")

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "powerhall"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "OPTIONS": {"file_path": str(VAR_DIR / "mail")},
    }
}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "powerhall <noreply@powerhall.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

SMS_BACKEND = env_str("SMS_BACKEND", "portal.sms.FileSmsBackend")
SMS_FILE_PATH = VAR_DIR / "sms"

TASKS = {
    "default": {
        "BACKEND": (
            "django_tasks_db.DatabaseBackend"
            if env_str("TASKS_BACKEND") == "database"
            else "django.tasks.backends.immediate.ImmediateBackend"
        )
    }
}
