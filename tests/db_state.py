"""What the database holds, row by row, to show that a refused request changed nothing; and data
made once for a module's tests."""

import contextlib

from django.apps import apps
from django.db import transaction
from django.test import override_settings

# Written by any request of a signed-in person, whatever it asks (the session and allauth's
# list of sessions), or the record of a refusal itself (the audit log notes refused attempts):
# a refused request may touch these without having changed anything.
NOT_COMPARED = frozenset(
    {
        "sessions.session",
        "usersessions.usersession",
        "portal.auditevent",
        "portal.auditchainhead",
    }
)


def database_state() -> dict[str, list[tuple]]:
    """Every row of every table of ours and the frameworks', by model, in primary-key order."""
    state = {}
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.label_lower in NOT_COMPARED or meta.proxy or not meta.managed:
            continue
        state[meta.label_lower] = list(model._base_manager.order_by("pk").values_list())
    return state


def tables_changed(before: dict, after: dict | None = None) -> list[str]:
    """The models whose rows differ between ``before`` and ``after`` (now, if not given)."""
    after = database_state() if after is None else after
    return sorted(
        label for label in before.keys() | after.keys() if before.get(label) != after.get(label)
    )


@contextlib.contextmanager
def made_once(django_db_blocker, files):
    """For a module-scoped fixture: what is made inside stays for the module's tests and goes
    after it. It is made in a transaction rolled back at the end; each test runs in a savepoint
    inside it (pytest-django's ``db``), so what one test changes, the next does not see. Uploads
    and text messages go to ``files`` (a test that reads an upload back points MEDIA_ROOT
    there: ``_isolated`` gives each test its own)."""
    with (
        django_db_blocker.unblock(),
        override_settings(
            MEDIA_ROOT=files / "media",
            SMS_FILE_PATH=files / "sms",
            PAGE_CACHE_GENERATION_FILE=files / "page-cache.generation",
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        ),
        transaction.atomic(),
    ):
        yield
        transaction.set_rollback(True)
