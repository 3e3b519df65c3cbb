"""Settings shared by both modes. Nothing here is a secret; the modes supply those."""

from pathlib import Path

import dj_database_url
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from .env import env_bool, env_choice, env_int, env_list, env_str, replica_database

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("POWERHALL_VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "portal",
    "payments",
    "applications",
    "cms",
    "wagtail.contrib.settings",
    "wagtail.contrib.simple_translation",  # "Translate": a page (or a subtree) copied to English
    "wagtail.locales",  # Settings → Locales
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "django_filters",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "django_tasks",
    "django_tasks_db",
    "crontask",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
]

MIDDLEWARE = [
    "portal.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # SECURE_CSP on every response; views with csp_override and the back offices set their own.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "portal.middleware.BackOfficeContentSecurityPolicyMiddleware",
    # Above WhiteNoise and the webhook's short path, so static files and the webhook's answers
    # are refused a frame too; views' own xframe_options_* decorators still win.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The payment provider's webhook (WEBHOOK_PATHS) goes from here straight to its view: it
    # needs nothing below (no session, user, locale, page cache or CSRF). Everything above applies.
    "portal.middleware.WebhookShortPathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After a request that wrote, the browser reads from the primary for a while (read replica).
    "portal.middleware.ReadReplicaPinMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Anonymous public pages from the cache; after LocaleMiddleware, whose language is in the key.
    "cms.page_cache.AnonymousPageCacheMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # allauth's UserSessionsMiddleware, writing at most once per SESSION_ACTIVITY_WRITE_SECONDS.
    "portal.middleware.UserSessionActivityMiddleware",
    "portal.middleware.StaffMFARequiredMiddleware",
]

# Paths served past the session, user, locale and page-cache middleware
# (portal.middleware.WebhookShortPathMiddleware): the webhook endpoint of payments/urls/pay.py.
WEBHOOK_PATHS = ["/pay/webhooks/stripe/"]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.site",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
# DATABASE_URL picks the engine in either mode (postgres://…, sqlite:///path). The embedded
# default is SQLite under var/.
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'powerhall.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers go on while one writer commits; IMMEDIATE avoids the "database is locked"
    # upgrade deadlock when two requests start a write at once.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # Wagtail's search index uses PostgreSQL full-text fields when it runs there.
    INSTALLED_APPS.append("django.contrib.postgres")
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A PostgreSQL read replica (docs/operations.md, "Read replica"): the reads of the views that
# said they may lag go there (portal/core/replica.py), everything else to the primary. The
# router is always installed: without a replica it answers "default", so the same code runs with
# one database or two (and the SQLite suite exercises it).
READ_REPLICA_URL = env_str("READ_REPLICA_URL")
if READ_REPLICA_URL:
    DATABASES["replica"] = replica_database(READ_REPLICA_URL, primary=DATABASES["default"])
DATABASE_ROUTERS = ["portal.core.replica.ReadReplicaRouter"]
# How far behind the replica may be before its reads go to the primary; also how long a browser
# that has just changed something reads from the primary (it sees its own change).
READ_REPLICA_MAX_LAG_SECONDS = env_int("READ_REPLICA_MAX_LAG_SECONDS", 10)
# How often each process asks the replica how far behind it is (two small queries).
READ_REPLICA_LAG_CHECK_SECONDS = env_int("READ_REPLICA_LAG_CHECK_SECONDS", 5)
# How long a replica that could not be reached is left alone before the next try.
READ_REPLICA_RETRY_SECONDS = env_int("READ_REPLICA_RETRY_SECONDS", 30)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Identity -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "portal.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
# OWASP ASVS 5 (V6.2): at least 12 characters, refuse common and context-specific passwords,
# no composition rules.
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Argon2id (portal/core/hashers.py); the others only read hashes stored before, each upgraded to
# Argon2id when its owner next signs in.
PASSWORD_HASHERS = [
    "portal.core.hashers.Argon2idHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "me:dashboard"

ACCOUNT_ADAPTER = "portal.adapters.AccountAdapter"
ACCOUNT_FORMS = {"signup": "portal.forms.identity.SignupForm"}
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email", "phone"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "phone", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = True
ACCOUNT_PHONE_VERIFICATION_ENABLED = True
ACCOUNT_REAUTHENTICATION_REQUIRED = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[国网营业厅] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = env_str("ACCOUNT_DEFAULT_HTTP_PROTOCOL", "http")
# allauth's defaults, spelled out so an operator sees them; they live in the cache (Redis in
# production, so every process counts the same attempts).
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",  # nosec
    "reset_password_from_key": "20/m/ip",  # nosec
    "change_password": "5/m/user",  # nosec
    "manage_email": "10/m/user",
    # Not allauth's 1/m: with ACCOUNT_REAUTHENTICATION_REQUIRED the first POST is counted, sent
    # to re-authenticate, then replayed and counted again, so 1/m refused every first change.
    "change_phone": "3/m/user",
    "reauthenticate": "10/m/user",
}
MFA_ADAPTER = "allauth.mfa.adapter.DefaultMFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "powerhall"
USERSESSIONS_TRACK_ACTIVITY = True
# How stale a session's "last seen" may grow before portal.middleware.UserSessionActivityMiddleware
# writes it again (a change of IP or browser is written at once).
SESSION_ACTIVITY_WRITE_SECONDS = env_int("SESSION_ACTIVITY_WRITE_SECONDS", 300)

# --- Internationalisation -----------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
# Business dates are Shanghai dates: "due 2026-11-30" means the end of that day in Shanghai.
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True
# Pages in Chinese and English (docs/cms.md, "Languages"): an English page is a translation of a
# Chinese one, served at the same address to whoever reads the site in English (no language in
# the URL: LocaleMiddleware chooses from the cookie the language switch sets, then the browser).
WAGTAIL_I18N_ENABLED = True
WAGTAIL_CONTENT_LANGUAGES = LANGUAGES
WAGTAILADMIN_PERMITTED_LANGUAGES = LANGUAGES

# --- Static and media ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Wagtail ------------------------------------------------------------------------------------
WAGTAIL_SITE_NAME = "powerhall"
WAGTAILADMIN_BASE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")
# Wagtail's database backend (FTS5 on SQLite, tsvector on PostgreSQL) with Chinese cut into words,
# which neither database does by itself (cms/search.py, docs/cms.md "Feeds and search").
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "cms.search"}}
WAGTAILDOCS_EXTENSIONS = ["pdf", "docx", "xlsx", "txt"]
WAGTAILDOCS_MAX_UPLOAD_SIZE = 10 * 1024 * 1024
WAGTAIL_PASSWORD_MANAGEMENT_ENABLED = False  # allauth owns passwords
WAGTAILADMIN_LOGIN_URL = "/accounts/login/"
WAGTAIL_USER_EDIT_FORM = None

# --- Security headers ---------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "portal.views.site.csrf_failure"  # the site's own 403 page, translated
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# A Content-Security-Policy on every response: scripts, styles, fonts and frames from this site
# only, never framed. Style attributes may stay inline (a usage gauge's widths, allauth's hidden
# forms): they cannot run code. Pages that need more or less say so with csp_override (the
# payment page adds Stripe; the pay and survey pages allow no inline style at all).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "style-src-attr": [CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# The pages that take money or answers (pay, receipts, invoices, the survey): not even an inline
# style attribute.
STRICT_CSP = {name: value for name, value in SECURE_CSP.items() if name != "style-src-attr"}
# The back offices (/cms-admin/, /django-admin/): Wagtail's and Django's admin pages carry inline
# scripts and styles, and Wagtail previews a page in a frame of its own
# (portal.middleware.BackOfficeContentSecurityPolicyMiddleware). Staff only, behind two factors.
BACK_OFFICE_CSP = SECURE_CSP | {
    "script-src": [CSP.SELF, CSP.UNSAFE_INLINE, CSP.UNSAFE_EVAL],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:", "blob:"],
    "font-src": [CSP.SELF, "data:"],
    "frame-src": [CSP.SELF],
    "frame-ancestors": [CSP.SELF],
}
# Staff avatars from the admin's own default, not Gravatar: no staff e-mail hash leaves the site.
WAGTAIL_GRAVATAR_PROVIDER_URL = None

# --- Powerhall ----------------------------------------------------------------------------------
COMPANY_NAME = _("State Grid Example Power Supply Company")
SERVICE_HOTLINE = "95598"
PRIVACY_NOTICE_VERSION = "2026-11"
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")
# How many X-Forwarded-For entries our own proxies add (0: trust only REMOTE_ADDR). Client IPs
# feed the audit log and the rate limits, so a wrong value lets clients spoof them.
TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_HOPS  # allauth's rate limits count the same address
# Test suites need to reset their database, which deletes audit rows; only they set this.
AUDIT_ALLOW_MAINTENANCE = False
# Account binding attempts per hour (portal/binding.py), counted in the shared cache.
BINDING_LIMIT_PER_USER = env_int("BINDING_LIMIT_PER_USER", 10)
BINDING_LIMIT_PER_NUMBER = env_int("BINDING_LIMIT_PER_NUMBER", 5)
BINDING_LIMIT_PER_IP = env_int("BINDING_LIMIT_PER_IP", 30)
# How long binding codes are kept after they expire, for a customer's complaint that one did not
# work; then manage.py cleanup_expired removes them (portal.services.expired_cleanup).
BINDING_CHALLENGE_RETENTION_DAYS = env_int("BINDING_CHALLENGE_RETENTION_DAYS", 30)
# The integration API (docs/integration.md): largest JSON Lines body, and calls per client.
INTEGRATION_API_MAX_BODY_BYTES = env_int("INTEGRATION_API_MAX_BODY_BYTES", 20 * 1024 * 1024)
INTEGRATION_API_RATE_LIMIT = env_int("INTEGRATION_API_RATE_LIMIT", 120)
INTEGRATION_API_RATE_WINDOW = env_int("INTEGRATION_API_RATE_WINDOW", 3600)
# Plausibility bounds of the billing-system imports, files and API alike (docs/integration.md,
# "Bounds", says why these defaults): a bill's period within so many years of today; its issue
# and due dates at most so many days after the period ends; a payment no older than so many
# years and no later than now plus the clock skew; amounts (yuan) and consumption (kWh) at most.
IMPORT_BILL_YEARS_BACK = env_int("IMPORT_BILL_YEARS_BACK", 10)
IMPORT_BILL_YEARS_AHEAD = env_int("IMPORT_BILL_YEARS_AHEAD", 1)
IMPORT_BILL_DUE_DAYS = env_int("IMPORT_BILL_DUE_DAYS", 180)
IMPORT_PAYMENT_YEARS_BACK = env_int("IMPORT_PAYMENT_YEARS_BACK", 10)
IMPORT_PAYMENT_CLOCK_SKEW_SECONDS = env_int("IMPORT_PAYMENT_CLOCK_SKEW_SECONDS", 300)
IMPORT_MAX_AMOUNT = env_int("IMPORT_MAX_AMOUNT", 1_000_000_000)
IMPORT_MAX_KWH = env_int("IMPORT_MAX_KWH", 10_000_000_000)
# Retired audit keys, still needed to verify rows written before a key rotation (docs/audit.md).
AUDIT_PREVIOUS_KEYS = env_list("AUDIT_PREVIOUS_KEYS")

# --- Applications (applications/) ---------------------------------------------------------------
# The published commitment set the clocks count against (docs/applications.md); blank: the newest
# set in force.
COMMITMENT_RULE_SET = env_str("COMMITMENT_RULE_SET", "sgcc-2023")

# --- Recurring jobs (portal/core/schedule.py, docs/deploy.md "The scheduler") ---------------------
# `manage.py crontask` enqueues each app's recurring jobs at their times; with Redis, a second
# scheduler (a standby on another machine) waits on the lock and takes over when the first stops.
CRONTASK = {"REDIS_URL": env_str("REDIS_URL") or None, "LOCK_BLOCKING_TIMEOUT": 5}

# --- CMS (cms/) -------------------------------------------------------------------------------
# Per-person fragments of signed-in pages (portal/fragments.py, docs/performance.md): how long
# a rendered bill table or set of dashboard cards may be reused at most (0 turns them off). Their
# keys change with what they show, so this only bounds how long an unused entry takes up room.
FRAGMENT_CACHE_SECONDS = env_int("FRAGMENT_CACHE_SECONDS", 3600)
# The anonymous page cache (cms/page_cache.py, docs/cms.md "Speed"): how long an entry may live
# at most (0 turns the cache off), and where the embedded default's processes share the cache's
# generation (with Redis it is kept in Redis).
PAGE_CACHE_SECONDS = env_int("PAGE_CACHE_SECONDS", 300)
PAGE_CACHE_GENERATION_FILE = Path(
    env_str("PAGE_CACHE_GENERATION_FILE") or VAR_DIR / "page-cache.generation"
)

# --- Payments (payments/gateways/) ----------------------------------------------------------------
# Without a secret key, development pays through the local test gateway; production requires
# all three keys. STRIPE_API_BASE points the SDK at a Stripe-compatible test server.
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
# The endpoint's earlier secrets, still accepted while a roll-over settles (comma-separated;
# docs/operations.md, "Rotating secrets"). Empty once it has.
STRIPE_WEBHOOK_PREVIOUS_SECRETS = env_list("STRIPE_WEBHOOK_PREVIOUS_SECRETS")
STRIPE_PAYMENT_METHOD_TYPES = env_list("STRIPE_PAYMENT_METHOD_TYPES", "card")
STRIPE_API_BASE = env_str("STRIPE_API_BASE")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request": {"()": "portal.core.logging.RequestContextFilter"},
        # DEBUG records that carry secrets (template contexts, Stripe's bodies) never reach a
        # line, even if a logger is turned to DEBUG (portal/core/logging.py).
        "unsafe_debug": {"()": "portal.core.logging.UnsafeDebugFilter"},
    },
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [request_id=%(request_id)s] %(message)s"
        },
        "json": {"()": "portal.core.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request", "unsafe_debug"],
            # LOG_FORMAT=json: one JSON object a line (production's default, production.py).
            "formatter": env_choice("LOG_FORMAT", ("plain", "json"), "plain"),
        }
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django": {"level": "INFO"},
        "django.server": {"level": "WARNING"},
        # runserver's "Watching for file changes" at start; a reload still shows (its checks).
        "django.utils.autoreload": {"level": "WARNING"},
        # Django logs every task's start and end at INFO, and a task run in-process while the
        # caller handles an exception (Wagtail's reference index, saved inside get_or_create's
        # DoesNotExist) with that exception's traceback: noise on `make run`. Failed tasks are
        # still logged, at ERROR.
        "django.tasks": {"level": "WARNING"},
        # The scheduler logs each firing (and its lock's renewal every few seconds) at INFO; what a
        # job did is logged by the worker that ran it (logger powerhall.jobs).
        "apscheduler.executors": {"level": "WARNING"},
        # The SDK's DEBUG is every request's parameters and response's body (client secrets).
        "stripe": {"level": "INFO"},
        "weasyprint": {"level": "ERROR"},
        "fontTools": {"level": "ERROR"},
    },
}
USERSESSIONS_ADAPTER = "portal.adapters.UserSessionsAdapter"
