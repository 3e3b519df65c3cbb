"""The two modes: the embedded default needs nothing; production refuses to start half-set-up."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
# Each test starts manage.py in a new process: what settings make of the environment, the same on
# any date (make test-sweep leaves them out of its many dates).
pytestmark = pytest.mark.any_date

PRODUCTION_ENV = {
    "POWERHALL_ENV": "production",
    "SECRET_KEY": "k3J9-vQ2wX7zR1tB8nM4pL6sD0fH5gY" * 2,
    "AUDIT_KEY": "a8Fq2Lm9Zx4Cv7Bn1Kj5Hg3Ds6Pw0Qe" * 2,
    "DATABASE_URL": "postgres://powerhall@db.internal:5432/powerhall",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "ALLOWED_HOSTS": "www.powerhall.example",
    "SITE_URL": "https://www.powerhall.example",
    "DEFAULT_FROM_EMAIL": "noreply@powerhall.example",
    "SMTP_HOST": "smtp.internal",
    "SMS_BACKEND": "portal.sms.FileSmsBackend",
    "MEDIA_BUCKET": "powerhall-media",
    "STRIPE_SECRET_KEY": "sk_live_example",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_example",
    "STRIPE_WEBHOOK_SECRET": "whsec_example",
}


def _manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    clean.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _settings(code: str, *, env) -> subprocess.CompletedProcess:
    """``code`` run in a new process with the settings ``env`` gives, the settings alone (no app
    loaded: what is read here is decided when the settings module runs, and starting the apps
    took seconds a test)."""
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    clean["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    return subprocess.run(
        [sys.executable, "-c", f"from django.conf import settings as s; {code}"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "missing", ["SECRET_KEY", "AUDIT_KEY", "REDIS_URL", "MEDIA_BUCKET", "STRIPE_SECRET_KEY"]
)
def test_production_without_a_required_setting_stops_and_names_it(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}

    result = _manage("check", env=env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def test_production_refuses_sqlite():
    result = _manage("check", env={**PRODUCTION_ENV, "DATABASE_URL": "sqlite:///tmp/x.db"})

    assert result.returncode != 0
    assert "PostgreSQL" in result.stderr


# The deployment checks ask the database server its version (a GeneratedField's check), so
# this one runs against the PostgreSQL of this machine (CI starts it), not an invented host.
LOCAL_POSTGRESQL = "postgres://postgres@127.0.0.1:5432/postgres"


def test_fully_configured_production_passes_the_deployment_checks():
    env = {**PRODUCTION_ENV, "DATABASE_URL": LOCAL_POSTGRESQL}

    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stdout + result.stderr


def test_an_unknown_mode_is_refused():
    result = _manage("check", env={"POWERHALL_ENV": "staging"})

    assert result.returncode != 0
    assert "POWERHALL_ENV" in result.stderr


def test_development_mode_runs_with_no_environment_at_all(tmp_path):
    result = _manage("check", env={"POWERHALL_VAR_DIR": str(tmp_path / "var")})

    assert result.returncode == 0, result.stderr
    # The embedded default generated its own secrets under var/, never in the repository.
    assert (tmp_path / "var" / "secret.key").exists()
    assert (tmp_path / "var" / "audit.key").exists()


def test_production_logs_one_json_object_a_line():
    code = (
        "import logging; from django.utils.log import configure_logging;"
        " configure_logging(s.LOGGING_CONFIG, s.LOGGING);"  # what django.setup() does for logs
        " logging.getLogger('powerhall.ops').warning('chain head 42 %s', 'ok')"
    )

    result = _settings(code, env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["level"] == "WARNING"
    assert line["logger"] == "powerhall.ops"
    assert line["message"] == "chain head 42 ok"
    assert line["request_id"] == "-"


def test_an_unknown_log_format_is_refused():
    result = _manage("check", env={**PRODUCTION_ENV, "LOG_FORMAT": "xml"})

    assert result.returncode != 0
    assert "LOG_FORMAT must be one of plain, json" in result.stderr


def test_production_cookies_are_secure_host_only_and_same_site():
    code = (
        "import json; print(json.dumps({n: getattr(s, n)"
        " for n in ['SESSION_COOKIE_NAME', 'SESSION_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY',"
        " 'SESSION_COOKIE_SAMESITE', 'SESSION_COOKIE_DOMAIN', 'SESSION_COOKIE_PATH',"
        " 'CSRF_COOKIE_NAME', 'CSRF_COOKIE_SECURE', 'CSRF_COOKIE_DOMAIN', 'CSRF_COOKIE_PATH',"
        " 'LANGUAGE_COOKIE_SECURE']}))"
    )

    result = _settings(code, env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr
    cookies = json.loads(result.stdout.strip().splitlines()[-1])
    # Browsers keep a __Host- cookie only when it is Secure, Path=/ and without a Domain.
    assert cookies == {
        "SESSION_COOKIE_NAME": "__Host-sessionid",
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_DOMAIN": None,
        "SESSION_COOKIE_PATH": "/",
        "CSRF_COOKIE_NAME": "__Host-csrftoken",
        "CSRF_COOKIE_SECURE": True,
        "CSRF_COOKIE_DOMAIN": None,
        "CSRF_COOKIE_PATH": "/",
        "LANGUAGE_COOKIE_SECURE": True,
    }


def test_production_keeps_database_connections_open_and_checks_them_before_use():
    code = "d = s.DATABASES['default']; print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])"

    kept = _settings(code, env=PRODUCTION_ENV)
    closed = _settings(code, env={**PRODUCTION_ENV, "DATABASE_CONN_MAX_AGE": "0"})

    assert kept.stdout.split() == ["60", "True"], kept.stderr
    assert closed.stdout.split() == ["0", "True"], closed.stderr


def test_production_keeps_files_in_the_private_bucket_it_is_given():
    env = {**PRODUCTION_ENV, "MEDIA_ENDPOINT_URL": "https://oss.internal", "MEDIA_REGION": "cn-1"}
    code = "import json; print(json.dumps(s.STORAGES['default']))"

    read = _settings(code, env=env)

    assert read.returncode == 0, read.stderr
    storage = json.loads(read.stdout.strip().splitlines()[-1])
    assert storage["BACKEND"] == "portal.core.media_bucket.MediaBucketStorage"
    options = storage["OPTIONS"]
    assert (options["bucket_name"], options["endpoint_url"], options["region_name"]) == (
        "powerhall-media",
        "https://oss.internal",
        "cn-1",
    )
    assert (options["default_acl"], options["querystring_auth"]) == ("private", True)


def test_production_keeps_files_on_a_local_disk_when_given_a_path_instead_of_a_bucket(tmp_path):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "MEDIA_BUCKET"}
    code = "print(s.STORAGES['default']['BACKEND'], s.MEDIA_ROOT)"

    on_disk = _settings(code, env={**env, "MEDIA_ROOT": str(tmp_path)})
    relative = _manage("check", env={**env, "MEDIA_ROOT": "var/media"})

    assert on_disk.returncode == 0, on_disk.stderr
    storage, root = on_disk.stdout.strip().splitlines()[-1].split()
    assert storage == "django.core.files.storage.FileSystemStorage"
    assert root == str(tmp_path)
    assert relative.returncode != 0
    assert "MEDIA_BUCKET (object storage) or MEDIA_ROOT (an absolute path" in relative.stderr


def test_production_reads_retired_secret_keys_for_a_rotation():
    code = "print(s.SECRET_KEY_FALLBACKS)"
    retired = "old-" + "x" * 50

    rotating = _settings(code, env={**PRODUCTION_ENV, "SECRET_KEY_FALLBACKS": retired})
    settled = _settings(code, env=PRODUCTION_ENV)

    assert rotating.returncode == 0, rotating.stderr
    assert rotating.stdout.strip().splitlines()[-1] == f"['{retired}']"
    assert settled.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.django_db
def test_a_new_secret_key_keeps_people_signed_in_while_the_old_one_is_a_fallback(settings):
    old, new = "old-signing-key-" + "a" * 40, "new-signing-key-" + "b" * 40
    settings.SECRET_KEY = old
    visiting, away = Client(), Client()
    visiting.force_login(UserFactory())
    away.force_login(UserFactory())
    dashboard = reverse("me:dashboard")

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = new, [old]
    # Still signed in; Django moves the session to the new key on this visit.
    assert visiting.get(dashboard).status_code == 200

    settings.SECRET_KEY_FALLBACKS = []
    assert visiting.get(dashboard).status_code == 200
    # Someone who did not come back while the old key was a fallback signs in again.
    assert away.get(dashboard).status_code == 302
