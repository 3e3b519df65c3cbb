import email
import email.policy
import re
import time

import pytest
from allauth.core.internal.cryptokit import _ALPHA_ALLOWED_CHARS
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.core.cache import cache
from django.utils import translation


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    """Each test gets its own media, SMS and mail folders, a clean cache (rate limits), and starts
    in the default language (a request in English leaves English active in the thread: a test
    must not pass or fail by which test ran before it in the same worker)."""
    translation.deactivate()
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SMS_FILE_PATH = tmp_path / "sms"
    settings.SMS_BACKEND = "portal.sms.FileSmsBackend"
    settings.PAGE_CACHE_GENERATION_FILE = tmp_path / "page-cache.generation"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()
    translation.deactivate()


# --- Reading one-time codes the way a person would: from the message they were sent ------------
# allauth's default codes: 8 letters from an unambiguous alphabet, shown as XXXX-XXXX.
_CODE_RE = re.compile(rf"\b[{_ALPHA_ALLOWED_CHARS}]{{4}}-[{_ALPHA_ALLOWED_CHARS}]{{4}}\b")


def _plain_text(message) -> str:
    """The text/plain part of an outgoing e-mail, decoded from its MIME form (base64 or
    quoted-printable) as a mail client would."""
    parsed = email.message_from_bytes(message.message().as_bytes(), policy=email.policy.default)
    return parsed.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture
def one_time_code():
    """``one_time_code(text)``: the allauth code in ``text``, or None."""

    def find(text: str) -> str | None:
        match = _CODE_RE.search(text)
        return match.group(0) if match else None

    return find


@pytest.fixture
def mail_text(mailoutbox):
    """``mail_text(address)``: the plain text of the newest e-mail sent to ``address``."""

    def read(address: str) -> str:
        sent = [m for m in mailoutbox if address in m.to]
        assert sent, f"no e-mail was sent to {address}"
        return _plain_text(sent[-1])

    return read


@pytest.fixture
def mail_code(mail_text, one_time_code):
    """``mail_code(address)``: the code in the newest e-mail sent to ``address``."""

    def read(address: str) -> str:
        code = one_time_code(mail_text(address))
        assert code, f"the newest e-mail to {address} holds no code"
        return code

    return read


@pytest.fixture
def sms_messages(settings):
    """``sms_messages(phone)``: every text message FileSmsBackend wrote to ``phone`` (E.164)."""
    from portal.sms import FileSmsBackend

    def read(phone: str) -> list[dict]:
        return [m for m in FileSmsBackend(settings.SMS_FILE_PATH).messages() if m["phone"] == phone]

    return read


@pytest.fixture
def sms_code(sms_messages, one_time_code):
    """``sms_code(phone)``: the code in the newest verification text sent to ``phone``."""

    def read(phone: str) -> str:
        texts = [m for m in sms_messages(phone) if m["purpose"] == "verification_code"]
        assert texts, f"no verification code was texted to {phone}"
        code = one_time_code(texts[-1]["body"])
        assert code, f"the newest text to {phone} holds no code"
        return code

    return read


@pytest.fixture
def totp_code():
    """``totp_code(secret)``: what an authenticator app shows now for ``secret``.

    allauth accepts only the current 30-second step (MFA_TOTP_TOLERANCE is 0), so when the step
    is about to end we wait for the next one rather than submit a code that expires in transit.
    """

    def compute(secret: str) -> str:
        period = mfa_settings.TOTP_PERIOD
        if period - time.time() % period < 2:
            time.sleep(period - time.time() % period + 0.1)
        return format_hotp_value(hotp_value(secret, int(time.time()) // period))

    return compute


@pytest.fixture(scope="session")
def django_db_setup(_migrate_once, django_db_setup, django_db_blocker):
    """pytest-django's test databases, migrated from the copy a run before kept when there is one
    (tests/db_snapshot.py). Once they are made, ``call_command`` is Django's own again, and what
    ``migrate`` left in them is kept for every flush to put back (tests/db_baseline.py)."""
    from django.db import connections

    from tests import db_baseline

    _migrate_once()
    with django_db_blocker.unblock():
        db_baseline.keep(connections["default"])
    return django_db_setup


@pytest.fixture(scope="session")
def _migrate_once():
    """While the test databases are made: ``migrate`` restores the kept copy of its database, or
    migrates and keeps a copy. Each worker's database is still its own. Gives what puts
    Django's ``call_command`` back."""
    from django.core import management
    from django.db import connections

    from tests import db_snapshot

    migrate = management.call_command

    def call_command(name, *args, **options):
        if name != "migrate":
            return migrate(name, *args, **options)
        connection = connections[options.get("database", "default")]
        if db_snapshot.restore(connection):
            return None
        migrate(name, *args, **options)
        db_snapshot.keep(connection)
        return None

    def put_back():
        management.call_command = migrate

    management.call_command = call_command
    yield put_back
    put_back()


@pytest.fixture(scope="session", autouse=True)
def _flush_puts_back_what_migrate_left():
    """Transactional and live-server tests end with ``flush``: it now deletes the rows and puts
    back those ``migrate`` left, in milliseconds (tests/db_baseline.py)."""
    from tests import db_baseline

    uninstall = db_baseline.install()
    yield
    uninstall()


@pytest.fixture(scope="session", autouse=True)
def _static_files_listed_once():
    """WhiteNoise (development settings: files from the finders) lists and stats every static
    file, Wagtail's thousands included, each time its middleware is made, and the test client
    makes a new one for each Client: 6 % of the suite's time went there. The files do not change
    during a run, so the listing is made once and each new middleware gets the same entries."""
    from whitenoise.middleware import WhiteNoiseMiddleware

    list_files = WhiteNoiseMiddleware.add_files_from_finders
    listed = {}

    def add_files_from_finders(self):
        key = (self.static_prefix, self.autorefresh, self.max_age, self.allow_all_origins)
        if key not in listed:
            before = dict(self.files)
            list_files(self)
            listed[key] = {url: f for url, f in self.files.items() if before.get(url) is not f}
        self.files.update(listed[key])

    WhiteNoiseMiddleware.add_files_from_finders = add_files_from_finders
    yield
    WhiteNoiseMiddleware.add_files_from_finders = list_files


@pytest.fixture(scope="session", autouse=True)
def _worker_cache(worker_id):
    """Under pytest-xdist (make test runs a worker per core) each worker has its own test
    database already; give it its own Redis database too, since clearing a Redis cache empties
    the whole database, whatever the key prefix. Worker gwN takes the configured database + N."""
    from django.conf import settings
    from django.test.utils import override_settings

    location = settings.CACHES["default"].get("LOCATION", "")
    if worker_id == "master" or not location.startswith("redis://"):
        yield
        return
    base, _, number = location.rpartition("/")
    worker_db = (int(number or 0) + int(worker_id.removeprefix("gw"))) % 16
    caches = {"default": {**settings.CACHES["default"], "LOCATION": f"{base}/{worker_db}"}}
    with override_settings(CACHES=caches):
        yield


@pytest.fixture(scope="session", autouse=True)
def _audit_maintenance():
    """Unlock the audit log's append-only triggers on the test connections: flushes between
    transactional and live-server tests delete every table. Set before the test database is
    created, so every connection opens unlocked; tests re-lock with
    portal.core.audit_db.audit_protection_enforced()."""
    from django.conf import settings

    settings.AUDIT_ALLOW_MAINTENANCE = True


@pytest.fixture
def audit_actions():
    """``audit_actions(user)``: the actions recorded about ``user``, oldest first;
    ``audit_actions(action=…)``: every row with that action."""
    from portal.core.audit import object_ref_for
    from portal.models import AuditEvent

    def read(user=None, *, action: str | None = None) -> list[str]:
        rows = AuditEvent.objects.order_by("seq")
        if user is not None:
            rows = rows.filter(object_ref=object_ref_for(user))
        if action is not None:
            rows = rows.filter(action=action)
        return list(rows.values_list("action", flat=True))

    return read


@pytest.fixture
def service_staff(client, totp_code):
    """A member of the Service staff group, signed in to the back office with their password and
    authenticator code (as staff open the admin), reading English."""
    from django.urls import reverse

    from portal.roles import SERVICE_STAFF, roles_ensure
    from tests.factories import PASSWORD, StaffUserFactory, totp_enrol

    user = StaffUserFactory()
    user.groups.add(roles_ensure()[SERVICE_STAFF])
    secret = totp_enrol(user)
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return user
