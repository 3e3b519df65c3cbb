"""How passwords are stored (docs/identity.md): Argon2id with OWASP's parameters; a password
stored before, by PBKDF2 or with other Argon2 parameters, still signs its owner in and is stored
again as Argon2id at that sign-in, once."""

import pytest
from django.contrib.auth.hashers import make_password

from portal.models import User
from portal.settings.base import PASSWORD_HASHERS
from tests.factories import PASSWORD, UserFactory
from tests.portal.test_identity import log_in_with_password, signed_in_user_id

pytestmark = pytest.mark.django_db

OURS = "argon2$argon2id$v=19$m=19456,t=2,p=1$"


@pytest.fixture
def hashers(settings):
    """The project's hashers (the suite's is MD5, for speed: tests/conftest.py)."""
    settings.PASSWORD_HASHERS = PASSWORD_HASHERS
    return settings.PASSWORD_HASHERS


def test_a_new_password_is_stored_with_argon2id(hashers):
    user = UserFactory()
    user.refresh_from_db()
    assert user.password.startswith(OURS)
    assert PASSWORD not in user.password
    assert user.check_password(PASSWORD)
    assert not user.check_password(PASSWORD + "x")


@pytest.mark.parametrize(
    "hasher",
    [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        # Django's own Argon2 parameters (100 MiB, 8 lanes): same algorithm, other cost.
        "django.contrib.auth.hashers.Argon2PasswordHasher",
    ],
)
def test_a_password_stored_before_signs_in_and_is_stored_again_with_argon2id(
    client, hashers, settings, hasher
):
    user = UserFactory()
    settings.PASSWORD_HASHERS = [hasher, *hashers]
    User.objects.filter(pk=user.pk).update(password=make_password(PASSWORD, hasher="default"))
    settings.PASSWORD_HASHERS = hashers
    before = User.objects.get(pk=user.pk).password
    assert not before.startswith(OURS)

    assert log_in_with_password(client, user.email, PASSWORD).status_code == 302
    assert signed_in_user_id(client) == str(user.pk)
    upgraded = User.objects.get(pk=user.pk).password
    assert upgraded.startswith(OURS)

    client.logout()
    assert log_in_with_password(client, user.email, PASSWORD).status_code == 302
    assert User.objects.get(pk=user.pk).password == upgraded  # stored once, not at every sign-in


def test_a_wrong_password_against_an_old_hash_changes_nothing(client, hashers, settings):
    user = UserFactory()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    old = make_password(PASSWORD)
    User.objects.filter(pk=user.pk).update(password=old)
    settings.PASSWORD_HASHERS = hashers

    assert log_in_with_password(client, user.email, "Not-the-password-1").status_code == 200
    assert signed_in_user_id(client) is None
    assert User.objects.get(pk=user.pk).password == old
