import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    """Each test gets its own media, SMS and mail folders, and a clean cache (rate limits)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SMS_FILE_PATH = tmp_path / "sms"
    settings.SMS_BACKEND = "portal.sms.FileSmsBackend"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()
