"""Reading settings from the environment, with one place that knows what production requires."""

import os

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = env_str(name, default).lower() or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def require(*names: str) -> dict[str, str]:
    """Return the named variables, or stop start-up naming every one that is missing."""
    missing = [name for name in names if not env_str(name)]
    if missing:
        raise ImproperlyConfigured(
            "POWERHALL_ENV=production needs these environment variables, which are not set: "
            + ", ".join(missing)
            + ". See docs/configuration.md."
        )
    return {name: env_str(name) for name in names}


# Connecting to the replica gives up after this many seconds (libpq's connect_timeout, which
# READ_REPLICA_URL's ?connect_timeout= overrides): a replica that does not answer then costs a
# request this long once per READ_REPLICA_RETRY_SECONDS.
REPLICA_CONNECT_TIMEOUT = 2


def replica_database(url: str, *, primary: dict) -> dict:
    """The ``DATABASES`` entry of the read replica at ``url``, for a ``primary`` on PostgreSQL."""
    if not primary["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured(
            "READ_REPLICA_URL needs DATABASE_URL to point at PostgreSQL: a read replica is a "
            "PostgreSQL standby of the primary."
        )
    replica = dj_database_url.parse(url)
    if not replica["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured("READ_REPLICA_URL must point at PostgreSQL (postgres://…).")
    replica["CONN_MAX_AGE"] = primary["CONN_MAX_AGE"]
    replica["CONN_HEALTH_CHECKS"] = True
    options = replica.setdefault("OPTIONS", {})
    options.setdefault("connect_timeout", REPLICA_CONNECT_TIMEOUT)
    # A standby refuses writes by itself; this also refuses them should the URL point at a
    # server that is not one (a promoted standby, a mistake).
    options["options"] = f"{options.get('options', '')} -c default_transaction_read_only=on".strip()
    # The test runner points this alias at the test database instead of creating one.
    replica["TEST"] = {"MIRROR": "default"}
    return replica
