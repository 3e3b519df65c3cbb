"""Benchmark settings: the portal as configured by the environment, plus a bare reference view."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls"
LOGGING = {"version": 1, "disable_existing_loggers": True}
