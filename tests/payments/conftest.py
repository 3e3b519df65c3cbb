import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def localstripe_server():
    """A localstripe server (a fake Stripe API, a test-only dependency) on 127.0.0.1: it listens
    on every interface and has no option to change that, so it runs only as long as the tests
    that need it, and is stopped at the end. Yields its base URL."""
    port = _free_port()
    binary = Path(sys.executable).with_name("localstripe")
    server = subprocess.Popen(
        [binary, "--from-scratch", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("localstripe did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def localstripe_url():
    """One localstripe for the test session."""
    with localstripe_server() as url:
        yield url


@pytest.fixture
def stripe_settings(settings, localstripe_url):
    """The portal configured for Stripe, its SDK pointed at localstripe."""
    settings.STRIPE_SECRET_KEY = "sk_test_powerhall"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_powerhall"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_powerhall"
    settings.STRIPE_API_BASE = localstripe_url
    settings.STRIPE_PAYMENT_METHOD_TYPES = ["card"]
    return settings
