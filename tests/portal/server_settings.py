"""The settings of the app servers tests/portal/test_brute_force.py starts: the project's, as the
environment configures them, with the test suite's quick password hasher (the tests' people are
made with it, tests/conftest.py)."""

from portal.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
