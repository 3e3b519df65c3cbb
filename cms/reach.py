"""Outage notices that reach people (docs/cms.md, "Reaching the affected customers").

- **Who.** The people bound to an account the outage cuts off (``cms.outages``; closed accounts
  are not supplied, so not cut off): everyone with an active personal binding on it and, for an
  organisation's account, the organisation's administrators and the members who may view that
  account (``MemberScope.can_view``), as the organisation's pages decide who sees an account
  (``portal.selectors.org_bindings_for``).
- **When.** Publishing an outage notice (``hooks.outage_published``, Wagtail's
  ``page_published``) hands ``outage_notify`` to a background task after the commit, so the
  publish request never waits for 100,000 accounts. The task walks the affected accounts in
  batches of ``BATCH``, by primary key (keyset pagination: each batch starts after the last key
  of the one before, so a batch costs the same however far in), and records each batch's
  notices with one ``notify_many``; one bad batch is skipped and kept under Job problems
  (``portal.core.jobs``), the others go on.
- **Once per person per version.** A person hears once about a notice however many of their
  accounts it touches: the message names one account and how many more of theirs are cut off.
  The notice's version is a digest of its times and places (``outage_version``), and is part of
  the notification's idempotency key: publishing again without changing them tells nobody
  (running the task twice neither); a new start, end, district or feeder tells everyone
  affected again, saying it has changed. A task for an older version finds the notice moved on
  and leaves it to the newer one's task.
- **In their language.** The notification registry renders each message in the person's
  language; the notice's title, reason and link come from its translation in that language when
  one is live.
- **Over is over.** An outage that has ended (or a fault without a known end that began more
  than ``FAULT_SHOWN_WITHOUT_END`` ago) is neither notified nor shown on the dashboard.
- **Cancelled.** A notice unpublished or deleted before its outage is over
  (``hooks.outage_unpublished``) is a cancellation (``outage_cancel``): it is kept on the page's
  history (``CANCELLED``), and a background task (``outage_cancel_notify``) tells the people who
  were told of the notice since its previous cancellation, each once, with the facts they were
  told. Expiry (the scheduler taking an outage off the site once it is over) is not one. The
  number of cancellations is part of the notice's version, so publishing it again tells everyone
  again, as news.

The dashboard's cards (``outages_on_cards``) show each account's current and upcoming outages:
one query for every card.
"""

import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import translation
from wagtail.log_actions import log
from wagtail.models import PageLogEntry

from payments.receipts import mask_account
from portal.core import clock
from portal.core.jobs import JobRun
from portal.models import (
    AccountStatus,
    Binding,
    MemberRole,
    MemberScope,
    Membership,
    Notification,
    NotificationKind,
    NotificationStatus,
    ServiceAccount,
    User,
)
from portal.notifications import Notice, language_for, notify_many

from .models import OUTAGE_KINDS, NoticeKind, NoticePage
from .outages import affected_accounts
from .translation import default_language

logger = logging.getLogger("powerhall.cms")

BATCH = 1000
"""Accounts per batch of notices: a handful of queries each, whatever its size."""
FAULT_SHOWN_WITHOUT_END = timedelta(hours=24)
"""A fault outage whose end is not known yet counts as current this long after it starts."""
JOB = "outage_notify"
CANCELLED = "cms.outage_cancelled"
"""The page history's action for a cancellation (registered in wagtail_hooks.py)."""


# --- What a notice says, and whether it still matters ---------------------------------------------
def outage_cancellations(notice: NoticePage) -> int:
    """How many times the outage was cancelled (unpublished or deleted before it was over)."""
    return PageLogEntry.objects.filter(page_id=notice.pk, action=CANCELLED).count()


def outage_version(notice: NoticePage) -> str:
    """A digest of the outage's times and places, after as many cancellations as it has had:
    what makes its notifications new. ``r<n>-`` leads it once the notice has been cancelled n
    times (``_told_since``; a digest is hexadecimal, so never starts with "r")."""

    def moment(value: datetime | None) -> str | None:
        # The same instant reads the same whether it came from the form (Beijing) or the database.
        return value.astimezone(UTC).isoformat() if value else None

    told = {
        "starts_at": moment(notice.starts_at),
        "ends_at": moment(notice.ends_at),
        "districts": sorted(set(notice.districts or [])),
        "feeders": sorted(set(notice.feeders or [])),
    }
    text = json.dumps(told, sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    cancellations = outage_cancellations(notice)
    return f"r{cancellations}-{digest}" if cancellations else digest


def _cancellations_in(version: str) -> int:
    return int(version[1 : version.index("-")]) if version.startswith("r") else 0


def _told_since(translation_key, cancellations: int) -> Q:
    """The outage notifications of the notice ``translation_key`` since its ``cancellations``th
    cancellation (by their idempotency keys, ``outage:notice-<key>-<version>:…``)."""
    prefix = f"{NotificationKind.OUTAGE}:notice-{translation_key}-"
    if cancellations:
        return Q(idempotency_key__startswith=f"{prefix}r{cancellations}-")
    return Q(idempotency_key__startswith=prefix) & ~Q(idempotency_key__startswith=f"{prefix}r")


def outage_over_at(notice: NoticePage) -> datetime | None:
    """When the outage is over: its end, or a day after a fault without a known end began."""
    if notice.ends_at is not None:
        return notice.ends_at
    return notice.starts_at + FAULT_SHOWN_WITHOUT_END if notice.starts_at else None


def outage_is_over(notice: NoticePage, *, now: datetime) -> bool:
    over_at = outage_over_at(notice)
    return over_at is None or over_at <= now


def _not_over(now: datetime) -> Q:
    """``outage_is_over`` negated, as a condition on NoticePage."""
    return Q(ends_at__gt=now) | Q(ends_at__isnull=True, starts_at__gt=now - FAULT_SHOWN_WITHOUT_END)


def outage_accounts(notice: NoticePage) -> QuerySet[ServiceAccount]:
    """The accounts the outage cuts off that are still supplied."""
    return affected_accounts(districts=notice.districts, feeders=notice.feeders).exclude(
        status=AccountStatus.CLOSED
    )


def _touches(notice: NoticePage, account: ServiceAccount) -> bool:
    """``cms.outages.affected_accounts``'s rule for one account in hand."""
    if account.status == AccountStatus.CLOSED:
        return False
    if notice.feeders:
        return account.feeder in notice.feeders
    return account.district in (notice.districts or [])


def _absolute(page: NoticePage) -> str:
    """The notice's address on the public site (``SITE_URL``, as every notification's links)."""
    url = page.get_url() or ""
    return settings.SITE_URL.rstrip("/") + url if url.startswith("/") else url


def _local(moment: datetime | None) -> str:
    return clock.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


# --- Who hears of an account's outage -------------------------------------------------------------
@dataclass(frozen=True)
class Reached:
    """A person an outage reaches, through the first of their affected accounts in a batch."""

    user: User
    account: str  # its number
    label: str  # what the person calls it: their binding's label, or the organisation's name


def outage_recipients(*, account_ids: list[int]) -> dict[int, Reached]:
    """user id → the person, for everyone bound to these accounts (see the module's docstring),
    each once, through their first account in ``account_ids``' order. Three queries at most."""
    found: dict[int, Reached] = {}
    order = {account_id: i for i, account_id in enumerate(account_ids)}
    bindings = sorted(
        Binding.objects.active()
        .filter(account_id__in=account_ids)
        .filter(Q(user__isnull=True) | Q(user__is_active=True))
        .select_related("user", "organisation", "account"),
        key=lambda binding: (order[binding.account_id], binding.pk),
    )
    org_bindings = [binding for binding in bindings if binding.organisation_id]
    admins, viewers = defaultdict(list), defaultdict(list)
    if org_bindings:
        for membership in Membership.objects.filter(
            organisation_id__in={binding.organisation_id for binding in org_bindings},
            role=MemberRole.ADMIN,
            user__is_active=True,
        ).select_related("user"):
            admins[membership.organisation_id].append(membership.user)
        for scope in MemberScope.objects.filter(
            binding__in=org_bindings, can_view=True, membership__user__is_active=True
        ).select_related("membership__user"):
            viewers[scope.binding_id].append(scope.membership.user)
    for binding in bindings:
        if binding.user_id:
            people, label = [binding.user], binding.label
        else:
            people = admins[binding.organisation_id] + viewers[binding.pk]
            label = binding.label or binding.organisation.name
        for user in people:
            found.setdefault(user.pk, Reached(user, binding.account.number, label))
    return found


def _accounts_seen(*, user_ids: set[int], accounts: QuerySet[ServiceAccount]) -> dict[int, int]:
    """user id → how many of ``accounts`` the person sees (personally, as an organisation's
    administrator, or by a view scope), each account once. Three queries; asked only for the
    people not told yet, so once per person and version."""
    affected = accounts.values("pk")
    seen: dict[int, set[int]] = defaultdict(set)
    for user_id, account_id in (
        Binding.objects.active()
        .filter(user_id__in=user_ids, account__in=affected)
        .values_list("user_id", "account_id")
    ):
        seen[user_id].add(account_id)
    for user_id, account_id in (
        Binding.objects.active()
        .filter(
            organisation__memberships__user_id__in=user_ids,
            organisation__memberships__role=MemberRole.ADMIN,
            account__in=affected,
        )
        .values_list("organisation__memberships__user_id", "account_id")
    ):
        seen[user_id].add(account_id)
    for user_id, account_id in MemberScope.objects.filter(
        membership__user_id__in=user_ids,
        membership__role=MemberRole.MEMBER,
        can_view=True,
        binding__ended_at__isnull=True,
        binding__account__in=affected,
    ).values_list("membership__user_id", "binding__account_id"):
        seen[user_id].add(account_id)
    return {user_id: len(accounts) for user_id, accounts in seen.items()}


# --- Telling them ---------------------------------------------------------------------------------
def _outage_texts(notice: NoticePage) -> dict[str, dict]:
    """language code → the ``outage`` of the notification's context (templates/notifications/
    outage.*), from the notice's live translation in that language; "" → the notice's own."""
    times = {
        "planned": notice.kind == NoticeKind.PLANNED_OUTAGE,
        "start": _local(notice.starts_at),
        "end": _local(notice.ends_at),
        "area": "、".join([*(notice.districts or []), *(notice.feeders or [])]),
    }
    texts = {}
    translations = (
        NoticePage.objects.live()
        .filter(translation_key=notice.translation_key)
        .select_related("locale")
    )
    for page in translations:
        text = {**times, "title": page.title, "reason": page.reason, "url": _absolute(page)}
        texts[page.locale.language_code] = text
        if page.pk == notice.pk:
            texts[""] = text
    return texts


def outage_notify(*, notice_id: int, version: str, batch_size: int | None = None) -> JobRun | None:
    """Tell everyone the outage notice ``notice_id`` reaches, if it is still live at
    ``version`` and not over (see the module's docstring). Safe to run again: who was told of
    this version is not told twice. Returns the run (None: nothing to do)."""
    notice = NoticePage.objects.live().filter(pk=notice_id).select_related("locale").first()
    if notice is None or not notice.is_outage or outage_version(notice) != version:
        logger.info(
            "outage notice %s: unpublished or changed since; left to its newer task", notice_id
        )
        return None
    if outage_is_over(notice, now=clock.now()):
        return None
    size = batch_size or BATCH
    accounts = outage_accounts(notice)
    texts = _outage_texts(notice)
    run = JobRun(JOB)
    after = recorded = 0
    while True:
        batch = list(
            accounts.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:size]
        )
        if not batch:
            break
        with run.row(f"cms.noticepage:{notice.pk}:accounts:{batch[0]}-{batch[-1]}"):
            recorded += _batch_notify(notice, version, texts, batch, accounts)
        after = batch[-1]
        if len(batch) < size:
            break
    logger.info("outage notice %s: %s notifications recorded", notice.pk, recorded)
    if run.skipped:
        logger.warning("outage notice %s: %s", notice.pk, run.summary())
    return run


def _batch_notify(
    notice: NoticePage, version: str, texts: dict, account_ids: list[int], accounts: QuerySet
) -> int:
    people = outage_recipients(account_ids=account_ids)
    if not people:
        return 0
    # The idempotency keys (portal.notifications.idempotency_key) of this notice's
    # notifications start "outage:notice-<translation key>-": which of these people were told
    # of this version, and which of an earlier one since the latest cancellation (their message
    # says it has changed; after a cancellation the outage is news again).
    key = f"notice-{notice.translation_key}-{version}"
    told_now, told_before = set(), set()
    for user_id, told in (
        Notification.objects.filter(user_id__in=list(people))
        .filter(_told_since(notice.translation_key, _cancellations_in(version)))
        .values_list("user_id", "idempotency_key")
    ):
        (told_now if told.startswith(f"{NotificationKind.OUTAGE}:{key}:") else told_before).add(
            user_id
        )
    new = set(people) - told_now
    if not new:
        return 0
    seen = _accounts_seen(user_ids=new, accounts=accounts)
    notices = []
    for user_id in sorted(new):
        reached = people[user_id]
        outage = texts.get(language_for(user=reached.user)) or texts[""]
        context = {
            "name": reached.user.get_short_name(),
            "account": mask_account(reached.account),
            "label": reached.label,
            "others": max(seen.get(user_id, 1) - 1, 0),
            "revised": user_id in told_before,
            "outage": outage,
        }
        notices.append(Notice(user=reached.user, key=key, context=context))
    return len(notify_many(kind=NotificationKind.OUTAGE, notices=notices))


# --- Cancelled ----------------------------------------------------------------------------------
def outage_cancel(*, notice: NoticePage) -> dict | None:
    """The outage notice ``notice`` (a Chinese one) is taken off the site, unpublished or
    deleted: if its outage is not over, that is a cancellation. It is recorded on the page's
    history (who did it, when), which also makes the notice's next publication news
    (``outage_version``). Returns the arguments of ``outage_cancel_notify``, for the caller to
    run after the commit; None when the outage is over (nobody needs telling)."""
    if not notice.is_outage or outage_is_over(notice, now=clock.now()):
        return None
    cancellation = outage_cancellations(notice)
    log(notice, CANCELLED, data={"cancellation": cancellation})
    return {
        "notice": str(notice.translation_key),
        "cancellation": cancellation,
        "until": outage_over_at(notice).isoformat(),
    }


def outage_cancel_notify(
    *, notice: str, cancellation: int, until: str, batch_size: int | None = None
) -> JobRun | None:
    """Tell the people who were told of the outage notice ``notice`` (its translation key)
    before its ``cancellation``th cancellation (counting from 0) that it is cancelled, each
    once, in their language, with the facts and account of the last message they had about it.
    Nothing once the outage would have been over (``until``), nor if the notice is live again
    (its new publication tells them). Works through the messages already sent, newest first, in
    batches; the notice itself may be deleted. Returns the run (None: nothing to do)."""
    if clock.now() >= datetime.fromisoformat(until):
        return None
    if (
        NoticePage.objects.live()
        .filter(translation_key=notice, locale__language_code=default_language())
        .exists()
    ):
        logger.info("outage notice %s: published again since its cancellation", notice)
        return None
    size = batch_size or BATCH
    told = (
        Notification.objects.filter(kind=NotificationKind.OUTAGE)
        .filter(_told_since(notice, cancellation))
        .exclude(status=NotificationStatus.FAILED)
    )
    key = f"cancel-{notice}-{cancellation}"
    run = JobRun(JOB)
    recorded, before = 0, None
    while True:
        rows = told if before is None else told.filter(pk__lt=before)
        batch = list(rows.order_by("-pk").values_list("pk", "user_id", "context")[:size])
        if not batch:
            break
        with run.row(f"cms.noticepage:{notice}:cancellation:{batch[0][0]}-{batch[-1][0]}"):
            recorded += _batch_cancel(key, batch)
        before = batch[-1][0]
        if len(batch) < size:
            break
    logger.info("outage notice %s cancelled: %s notifications recorded", notice, recorded)
    if run.skipped:
        logger.warning("outage notice %s cancelled: %s", notice, run.summary())
    return run


def _batch_cancel(key: str, rows: list[tuple[int, int, dict]]) -> int:
    """``rows``: (id, user id, context) of outage notifications, newest first. Each person once
    (a person met again in a later batch has had theirs: ``notify_many`` skips their key)."""
    latest: dict[int, dict] = {}
    for _pk, user_id, context in rows:
        latest.setdefault(user_id, context)
    users = User.objects.in_bulk(list(latest))
    notices = [
        Notice(
            user=users[user_id],
            key=key,
            context={
                "name": users[user_id].get_short_name(),
                "account": told.get("account", ""),
                "label": told.get("label", ""),
                "cancelled": True,
                "outage": told.get("outage", {}),
            },
        )
        for user_id, told in latest.items()
        if user_id in users
    ]
    return len(notify_many(kind=NotificationKind.OUTAGE, notices=notices))


# --- The dashboard ------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutageLine:
    """An outage as an account card shows it."""

    title: str
    kind: str
    starts_at: datetime | None
    ends_at: datetime | None
    url: str
    current: bool  # under way now


def outages_on_cards(*, bindings: list[Binding]) -> dict[int, dict]:
    """account id → {"outages": [OutageLine…]}: the current and upcoming outages of each
    account, soonest first (portal.selectors.account_card_providers). One query for every card:
    the outages not over (tens at a time), matched to the accounts here."""
    if not bindings:
        return {}
    now = clock.now()
    notices = (
        NoticePage.objects.live()
        .filter(_not_over(now), kind__in=OUTAGE_KINDS)
        .select_related("locale")
        .order_by("starts_at", "pk")
    )
    # One notice per translation: the reader's language if it is live, else the first found.
    language = translation.get_language() or ""
    chosen: dict = {}
    for notice in notices:
        if notice.translation_key not in chosen or notice.locale.language_code == language:
            chosen[notice.translation_key] = notice
    lines = [
        (
            notice,
            OutageLine(
                title=notice.title,
                kind=notice.get_kind_display(),
                starts_at=notice.starts_at,
                ends_at=notice.ends_at,
                url=notice.get_url() or "",
                current=notice.starts_at is not None and notice.starts_at <= now,
            ),
        )
        for notice in chosen.values()
    ]
    cards = {}
    for binding in bindings:
        touching = [line for notice, line in lines if _touches(notice, binding.account)]
        if touching:
            cards[binding.account_id] = {"outages": touching}
    return cards
