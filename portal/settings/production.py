"""Production: every secret and service comes from the environment, nothing falls back.

Start-up stops with ImproperlyConfigured naming each missing variable (see env.require).
"""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from ..core.storage import bucket_storage
from .base import *  # noqa: F403
from .base import DATABASES, LOGGING
from .env import env_bool, env_choice, env_int, env_list, env_str, require

_required = require(
    "SECRET_KEY",
    "AUDIT_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "ALLOWED_HOSTS",
    "SITE_URL",
    "DEFAULT_FROM_EMAIL",
    "SMTP_HOST",
    "SMS_BACKEND",
    "STRIPE_SECRET_KEY",
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_WEBHOOK_SECRET",
)

SECRET_KEY = _required["SECRET_KEY"]
# Retired signing keys, still accepted while a rotation settles (sessions, signed links), never
# used to sign: docs/operations.md, "Rotating secrets".
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")
AUDIT_KEY = _required["AUDIT_KEY"]
DEBUG = False

if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("In production DATABASE_URL must point at PostgreSQL.")

REDIS_URL = _required["REDIS_URL"]
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "powerhall"),
    }
}
# Sessions live in Redis for speed and in the database so a Redis restart logs nobody out.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# One JSON object a log line, each with its request id, for the log collector (LOG_FORMAT=plain
# for people reading a terminal).
LOGGING["handlers"]["console"]["formatter"] = env_choice("LOG_FORMAT", ("plain", "json"), "json")

MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": _required["SMTP_HOST"],
            "port": env_int("SMTP_PORT", 587),
            "username": env_str("SMTP_USER"),
            "password": env_str("SMTP_PASSWORD"),
            "use_tls": env_bool("SMTP_USE_TLS", True),
            "timeout": 10,
        },
    }
}
DEFAULT_FROM_EMAIL = _required["DEFAULT_FROM_EMAIL"]
SERVER_EMAIL = DEFAULT_FROM_EMAIL

SMS_BACKEND = _required["SMS_BACKEND"]
SMS_FILE_PATH = VAR_DIR / "sms"  # noqa: F405  (only if an operator chose the file backend)

# A real worker: `manage.py db_worker` processes (systemd units, docs/operations.md).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# Uploaded files and generated PDFs: in S3-compatible object storage (MEDIA_BUCKET; private,
# served through our views, never public; CMS images by the site's /media/images/ address,
# portal/core/storage.py), or on a local disk
# (MEDIA_ROOT, an absolute path every app server of the machine shares) for a single machine.
_STATICFILES = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}
if env_str("MEDIA_BUCKET"):
    STORAGES = {
        "default": bucket_storage(
            env_str("MEDIA_BUCKET"),
            endpoint_url=env_str("MEDIA_ENDPOINT_URL") or None,
            region=env_str("MEDIA_REGION") or None,
            access_key=env_str("MEDIA_ACCESS_KEY_ID") or None,
            secret_key=env_str("MEDIA_SECRET_ACCESS_KEY") or None,
        ),
        "staticfiles": _STATICFILES,
    }
elif Path(env_str("MEDIA_ROOT")).is_absolute():
    MEDIA_ROOT = Path(env_str("MEDIA_ROOT"))
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": _STATICFILES,
    }
else:
    raise ImproperlyConfigured(
        "POWERHALL_ENV=production needs MEDIA_BUCKET (object storage) or MEDIA_ROOT (an absolute "
        "path on a local disk) for uploaded and generated files. See docs/configuration.md."
    )
WHITENOISE_USE_FINDERS = False

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# The load balancer asks each app server for its health over plain HTTP, past the proxy.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = False
# Preloading HSTS is a one-way decision for the domain's owner, not a default we can take.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
LANGUAGE_COOKIE_SECURE = True
# The __Host- prefix: the browser keeps these cookies only if they are Secure, for the whole
# site (Path=/) and for this host alone (no Domain), so a neighbouring subdomain cannot plant or
# overwrite a session or CSRF cookie.
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https"
