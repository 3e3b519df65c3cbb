"""Serving the portal for a benchmark: gunicorn with 2 sync workers, as the baselines in
../shared/STACK.md were measured, on a free loopback port."""

import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gunicorn_start(env: dict) -> tuple[subprocess.Popen, int]:
    """Start gunicorn on the benchmark settings and wait until it accepts connections; the
    caller terminates it."""
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - our own fixed command line
        [
            ROOT / ".venv/bin/gunicorn",
            "benchmarks.wsgi",
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "benchmarks.settings"},
    )
    for _ in range(150):
        if server.poll() is not None:
            raise SystemExit("gunicorn did not start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, port
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start")
