"""Fixed-window attempt counters in the shared cache (Redis in production), for limits that
allauth does not cover: account binding, verification lookups, anything enumerable.

A limit is "N per window per key"; keys name who is counted (a user, an IP, an account number),
so one call can check several at once and the strictest wins.
"""

import hashlib
from dataclasses import dataclass

from django.core.cache import cache

from . import clock


@dataclass(frozen=True)
class Limit:
    scope: str  # what is counted, e.g. "bind:user"
    key: str  # who, e.g. the user id, the IP, the account number
    max_attempts: int
    window_seconds: int

    def cache_key(self, now: float) -> str:
        window = int(now // self.window_seconds)
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:24]
        return f"ratelimit:{self.scope}:{digest}:{window}"


def hit(*limits: Limit) -> bool:
    """Count one attempt against every limit; return False if any is already exhausted.

    An attempt refused by one limit is still counted by the others, so hammering one key keeps
    the others closed too.
    """
    now = clock.now().timestamp()
    allowed = True
    for limit in limits:
        key = limit.cache_key(now)
        cache.add(key, 0, timeout=limit.window_seconds + 5)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=limit.window_seconds + 5)
            count = 1
        if count > limit.max_attempts:
            allowed = False
    return allowed
