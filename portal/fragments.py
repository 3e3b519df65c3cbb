"""Per-person fragments of signed-in pages, cached (issue 15, docs/performance.md).

A fragment is HTML that one person's page shows and that is costly to make: the table of a page
of their bills with what each owes today, the bill facts of their dashboard cards. Its key holds
everything that HTML depends on, so any change to that makes a new key and an old entry is
never served (it just ages out):

- who is asking (the user's id), the language, and the business date (``clock.today()``: the
  penalty grows by the day and "overdue" turns at midnight);
- every account shown: the binding (id, label) and the account's fields that are shown, read by
  the query the page runs anyway (the person's bindings with their accounts), among them the
  account's ``bills_version``. Every writer of an account's bills or ledger raises that by one
  in its own transaction (``accounts_changed``; docs/bills.md, "Cached fragments");
- what the page was asked for (filters, page number).

Binding or unbinding changes the list of bindings, and with it the key: no counter is needed for
that. The version lives in the database, not in a process's memory, so every process (two
gunicorn workers with a per-process cache each, or any number sharing Redis) agrees at once.

Nothing with a CSRF token or a flash message is cached: fragments are parts of a page below
those, and ``fragment`` refuses to store HTML that carries a token.

The bill lists may read from the read replica (``reads_may_lag``, portal/core/replica.py), which
can be seconds behind the primary. That cannot store old HTML under a new key:

- the version is raised in the same transaction as the change, and a standby replays whole
  transactions in commit order, so a replica that shows version N shows the bills and ledger of
  version N, no older;
- a view reads the key (the bindings with their versions) before the content, and within a view
  the router decides once and never moves from the primary back to the replica (after a write
  or a transaction it stays on the primary): the content it renders is at least as new as the
  key it stores it under.

So an entry holds what its key says, or something newer (the replica replayed a change between
the two reads), which is no harm: whoever reads that key again is shown the newer state, which
the primary already has. What lag costs is a new key built a few seconds late. The anonymous
page cache is another matter (its generation is not read from the database): cms/page_cache.py
renders its misses from the primary.
"""

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, QuerySet
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from .core import clock
from .models import Binding, ServiceAccount

log = logging.getLogger(__name__)

_CSRF_FIELD = "csrfmiddlewaretoken"


def accounts_changed(*, account_ids: Iterable[int] | QuerySet) -> None:
    """Raise the ``bills_version`` of these accounts by one: their bills or ledger changed.
    One UPDATE; call it inside the transaction that made the change (a query of account ids is
    used as a subquery).

    The rows are locked in id order (``SELECT … ORDER BY id FOR UPDATE`` inside the UPDATE), so
    two payments over the same accounts wait for each other instead of each holding one account
    the other needs (a deadlock). SQLite locks the whole database and ignores the clause."""
    if not isinstance(account_ids, QuerySet):
        account_ids = sorted(set(account_ids))
        if not account_ids:
            return
    in_order = (
        ServiceAccount.objects.filter(pk__in=account_ids)
        .order_by("pk")
        .select_for_update()
        .values("pk")
    )
    ServiceAccount.objects.filter(pk__in=in_order).update(bills_version=F("bills_version") + 1)


def binding_parts(bindings: Sequence[Binding]) -> tuple:
    """What a fragment shows of each binding and its account, for its key (the bindings must
    have been read with their accounts)."""
    return tuple(
        (
            binding.pk,
            binding.label,
            binding.account_id,
            binding.account.bills_version,
            binding.account.number,
            binding.account.status,
            binding.account.address,
            binding.account.holder_name,
            binding.account.customer_class,
        )
        for binding in bindings
    )


def fragment_key(name: str, *, user_id: int, parts: tuple) -> str:
    """The cache key of fragment ``name`` for this person, in the active language, today."""
    raw = repr((get_language(), clock.today().isoformat(), parts))
    digest = hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()
    return f"fragment:{name}:{user_id}:{digest}"


def fragment(key: str, render: Callable[[], str]) -> SafeString:
    """The HTML stored under ``key``, or ``render()``'s, stored for next time. The cache being
    away (Redis down) only costs the rendering."""
    seconds = settings.FRAGMENT_CACHE_SECONDS
    if seconds <= 0:
        return mark_safe(render())  # noqa: S308 (HTML from our own templates)  # nosec
    try:
        html = cache.get(key)
    except Exception:
        log.exception("fragment cache: could not read %s", key)
        return mark_safe(render())  # noqa: S308  # nosec
    if html is None:
        html = render()
        # A form's token belongs to one session and one page: never reuse it.
        if _CSRF_FIELD in html:
            log.error("fragment cache: %s holds a CSRF token and was not stored", key)
            return mark_safe(html)  # noqa: S308  # nosec
        try:
            cache.set(key, html, timeout=seconds)
        except Exception:
            log.exception("fragment cache: could not store %s", key)
    return mark_safe(html)  # noqa: S308  # nosec
