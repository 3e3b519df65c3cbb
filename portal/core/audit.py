"""The project-wide audit log: append-only, hash-chained, verifiable (docs/audit.md).

Every row carries ``mac = HMAC-SHA256(AUDIT_KEY, canonical(row fields + prev_mac))``. Someone with
only database access cannot compute a MAC, so an edited, deleted, inserted or re-ordered row breaks
the chain, and ``manage.py audit_verify`` names the first broken row. Rows removed from the end
are caught by comparing with a head published elsewhere (``manage.py audit_publish_head``).

Write a row with ``audit_record`` as the last write of the transaction that makes the change it
describes: see its docstring for why.
"""

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, router, transaction

from . import clock, request_context
from .models import AuditChainHead, AuditEvent

logger = logging.getLogger("powerhall.audit")

# Bumped if the serialisation below ever changes, so old and new rows stay verifiable.
MAC_FORMAT = "powerhall-audit/1"
# prev_mac of the first row.
GENESIS_MAC = "0" * 64
SYSTEM_ROLE = "system"

_FIELD_LIMITS = {"object_ref": 200, "ip": 64, "user_agent": 300, "request_id": 64}


# --- Keys ---------------------------------------------------------------------------------------


def key_id_for(key: str) -> str:
    """A short, non-secret name for a key, stored on each row so keys can be rotated."""
    return hmac.new(key.encode(), b"powerhall audit key id", hashlib.sha256).hexdigest()[:16]


def _current_key() -> str:
    key = getattr(settings, "AUDIT_KEY", "")
    if not key:
        raise ImproperlyConfigured("AUDIT_KEY is not set; the audit log cannot sign rows.")
    return key


def _known_keys() -> dict[str, str]:
    """The current key and any retired ones (AUDIT_PREVIOUS_KEYS) still needed to verify old
    rows, by key id."""
    keys = [_current_key(), *getattr(settings, "AUDIT_PREVIOUS_KEYS", [])]
    return {key_id_for(key): key for key in keys if key}


# --- Canonical serialisation --------------------------------------------------------------------


def canonical_json(value) -> str:
    """JSON with sorted keys and no whitespace, through DjangoJSONEncoder: Decimals become their
    exact string ("12.30"), datetimes ISO 8601, UUIDs strings. NaN and Infinity are refused, as
    they are not JSON."""
    return json.dumps(
        value,
        cls=DjangoJSONEncoder,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def _time_text(moment) -> str:
    # Both engines keep microseconds and return UTC; spell the time the same way every time.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def compute_mac(
    *,
    key: str,
    seq: int,
    occurred_at,
    actor_id: int | None,
    actor_role: str,
    action: str,
    object_ref: str,
    ip: str,
    user_agent: str,
    request_id: str,
    key_id: str,
    data: str,
    prev_mac: str,
) -> str:
    """HMAC-SHA256 over a JSON array of the row's fields in a fixed order. A JSON array (not a
    joined string) keeps field boundaries unambiguous: no value can spill into its neighbour."""
    message = json.dumps(
        [
            MAC_FORMAT,
            seq,
            _time_text(occurred_at),
            actor_id,
            actor_role,
            action,
            object_ref,
            ip,
            user_agent,
            request_id,
            key_id,
            data,
            prev_mac,
        ],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hmac.new(key.encode(), message.encode("ascii"), hashlib.sha256).hexdigest()


# --- Writing ------------------------------------------------------------------------------------


def object_ref_for(obj) -> str:
    """The reference "portal.user:<uuid>" for a model instance: its uuid if it has one (as
    customer-facing objects do), otherwise its pk. A string is passed through."""
    if obj is None:
        return ""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, models.Model):
        identifier = getattr(obj, "uuid", None) or obj.pk
        return f"{obj._meta.label_lower}:{identifier}"
    return str(obj)


def _actor_fields(actor, actor_role: str | None) -> tuple[int | None, str]:
    if actor is None:
        return None, actor_role or SYSTEM_ROLE
    if not getattr(actor, "is_authenticated", False):
        return None, actor_role or "anonymous"
    return actor.pk, actor_role or getattr(actor, "role_label", None) or "user"


def _clean(value: str, limit: int) -> str:
    # PostgreSQL refuses NUL in text; a header could carry one.
    return (value or "").replace("\x00", "")[:limit]


def _lock_head(using: str) -> AuditChainHead:
    """Lock the chain head row until the caller's transaction ends (serialises appends)."""
    heads = AuditChainHead.objects.using(using).select_for_update()
    head = heads.filter(pk=AuditChainHead.SINGLETON_ID).first()
    if head is None:
        # Migration 0002 creates the row, but a test-suite flush empties every table. Rebuild
        # it from the last event; get_or_create copes with two processes doing this at once.
        last = AuditEvent.objects.using(using).order_by("-seq").values("seq", "mac").first()
        if last is not None:
            logger.warning("Audit chain head row was missing; rebuilt at seq %s.", last["seq"])
        AuditChainHead.objects.using(using).get_or_create(
            pk=AuditChainHead.SINGLETON_ID,
            defaults={
                "seq": last["seq"] if last else 0,
                "mac": last["mac"] if last else GENESIS_MAC,
            },
        )
        head = heads.get(pk=AuditChainHead.SINGLETON_ID)
    return head


def audit_record(
    *,
    action: str,
    actor=None,
    obj=None,
    data: dict | None = None,
    actor_role: str | None = None,
) -> AuditEvent:
    """Append one event to the audit log and return it.

    ``actor`` is the User who acted (None: the system); only their id and a role label are
    stored. ``obj`` is the model instance concerned (or a reference string). ``data`` is any
    JSON-serialisable dict (Decimals are stored as exact strings). IP, user agent and request id
    come from the current request (portal.core.request_context).

    Atomic with the caller: inside ``transaction.atomic()`` the row commits or rolls back with the
    caller's change, and a rollback leaves no row and no gap. Appends are serialised by a row lock
    on the chain head, held until the caller's transaction ends, so **make the audit record the
    last write of your transaction**: then the lock is held only for the commit, and a burst of
    payments does not queue behind each other's business logic. (On SQLite the database lets one
    writer in at a time anyway.)
    """
    if not action or len(action) > AuditEvent._meta.get_field("action").max_length:
        raise ValueError(f"Audit action must be 1-64 characters: {action!r}")
    actor_id, role = _actor_fields(actor, actor_role)
    context = request_context.current()
    key = _current_key()
    values = {
        "actor_id": actor_id,
        "actor_role": role[:32],
        "action": action,
        "object_ref": _clean(object_ref_for(obj), _FIELD_LIMITS["object_ref"]),
        "ip": _clean(context.ip if context else "", _FIELD_LIMITS["ip"]),
        "user_agent": _clean(context.user_agent if context else "", _FIELD_LIMITS["user_agent"]),
        "request_id": _clean(context.request_id if context else "", _FIELD_LIMITS["request_id"]),
        "data": canonical_json(data if data is not None else {}),
        "key_id": key_id_for(key),
    }
    using = router.db_for_write(AuditEvent)
    # No savepoint inside a caller's transaction: it would cost two round trips on every append,
    # and if the append fails the caller's change must not commit without its audit row anyway.
    with transaction.atomic(using=using, savepoint=False):
        head = _lock_head(using)
        # The time is taken under the lock, so times never go backwards along the chain.
        values.update(seq=head.seq + 1, occurred_at=clock.now(), prev_mac=head.mac)
        event = AuditEvent(**values, mac=compute_mac(key=key, **values))
        _append(event, head, using=using)
    return event


def _append(event: AuditEvent, head: AuditChainHead, *, using: str) -> None:
    """Insert ``event`` and move the (locked) chain head to it. On PostgreSQL in one statement:
    every payment holds the head's lock from here to its commit, so each round trip saved here
    is saved for all of them."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        event.save(using=using, force_insert=True)
        AuditChainHead.objects.using(using).filter(pk=head.pk).update(
            seq=event.seq, mac=event.mac, updated_at=event.occurred_at
        )
        event._state.adding, event._state.db = False, using
        return
    quote = connection.ops.quote_name
    columns = [field.column for field in AuditEvent._meta.concrete_fields]
    head_pk = quote(AuditChainHead._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH appended AS (INSERT INTO {quote(AuditEvent._meta.db_table)} "  # noqa: S608 - our own names  # nosec
            f"({', '.join(map(quote, columns))}) VALUES ({', '.join(['%s'] * len(columns))})) "
            f"UPDATE {quote(AuditChainHead._meta.db_table)} "
            f"SET seq = %s, mac = %s, updated_at = %s WHERE {head_pk} = %s",
            [
                *(getattr(event, field.attname) for field in AuditEvent._meta.concrete_fields),
                event.seq,
                event.mac,
                event.occurred_at,
                head.pk,
            ],
        )
    event._state.adding, event._state.db = False, using


# --- Reading ------------------------------------------------------------------------------------


def audit_events_by(*, user) -> list[dict]:
    """What ``user`` did, for their data-export download (privacy law: right of access)."""
    rows = (
        AuditEvent.objects.filter(actor_id=user.pk)
        .order_by("seq")
        .values_list("occurred_at", "action", "ip", "object_ref")
    )
    return [
        {
            "time": clock.localtime(occurred_at).isoformat(),
            "action": action,
            "ip": ip,
            "object": object_ref,
        }
        for occurred_at, action, ip, object_ref in rows.iterator(chunk_size=2000)
    ]


def audit_head() -> tuple[int, str]:
    """(seq, mac) of the last event; (0, GENESIS_MAC) when the log is empty."""
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "mac").first()
    return last if last is not None else (0, GENESIS_MAC)


def format_head(seq: int, mac: str) -> str:
    return f"{seq}:{mac}"


def parse_head(text: str) -> tuple[int, str]:
    """Parse "SEQ:MAC" as printed by audit_publish_head and audit_verify."""
    seq_text, sep, mac = text.strip().partition(":")
    if not sep or not seq_text.isdigit() or len(mac) != 64:
        raise ValueError(f"Expected SEQ:MAC (a number, a colon, 64 hex digits), not {text!r}")
    return int(seq_text), mac.lower()


# --- Verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainBreak:
    """The first place the chain is broken: the row's seq and what is wrong with it."""

    seq: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    count: int
    head_seq: int
    head_mac: str
    broken: ChainBreak | None = None

    @property
    def whole(self) -> bool:
        return self.broken is None


_VERIFY_FIELDS = (
    "seq",
    "occurred_at",
    "actor_id",
    "actor_role",
    "action",
    "object_ref",
    "ip",
    "user_agent",
    "request_id",
    "key_id",
    "data",
    "prev_mac",
    "mac",
)


def _rows(chunk_size: int) -> Iterator[dict]:
    # A streaming read (server-side cursor on PostgreSQL): memory stays flat however long the log.
    rows = AuditEvent.objects.order_by("seq").values_list(*_VERIFY_FIELDS)
    for row in rows.iterator(chunk_size=chunk_size):
        yield dict(zip(_VERIFY_FIELDS, row, strict=True))


def _check_row(row: dict, prev_mac: str, keys: dict[str, str]) -> str | None:
    """Why this row (in sequence after a row with ``prev_mac``) breaks the chain, or None.

    The row's own MAC is checked before its link, so an edited row is named as edited rather
    than as a break in the chain after it.
    """
    key = keys.get(row["key_id"])
    if key is None:
        return (
            f"signed with an unknown key (key id {row['key_id']!r}): add the retired key to "
            "AUDIT_PREVIOUS_KEYS, or the row was forged"
        )
    fields = {name: row[name] for name in _VERIFY_FIELDS if name != "mac"}
    if not hmac.compare_digest(compute_mac(key=key, **fields), row["mac"]):
        return "MAC does not match the row's contents: the row was edited or forged"
    if not hmac.compare_digest(row["prev_mac"], prev_mac):
        return (
            f"prev_mac does not match the MAC of seq {row['seq'] - 1}: a row before it was "
            "deleted, replaced or inserted"
        )
    return None


def audit_chain_verify(
    *, expected_head: tuple[int, str] | None = None, chunk_size: int = 2000
) -> ChainReport:
    """Walk the whole chain in seq order and report the first broken row, if any.

    ``expected_head`` is a (seq, mac) published earlier: that row must still exist with that MAC,
    which catches rows removed from the end (nothing else can: the remaining chain is whole).
    """
    keys = _known_keys()
    # Read before the walk: everything up to this head was committed with it, so the walk must
    # reach it. Rows appended during the walk may or may not be seen, which is fine.
    db_head = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON_ID).first()
    checkpoints = {}
    if db_head is not None and db_head.seq:
        checkpoints[db_head.seq] = ("the chain head row", db_head.mac)
    if expected_head is not None and expected_head[0]:
        # The published head wins when both name the same seq: it is the trusted one.
        checkpoints[expected_head[0]] = ("the published head", expected_head[1])

    count, prev_seq, prev_mac = 0, 0, GENESIS_MAC
    for row in _rows(chunk_size):
        seq = row["seq"]
        if seq != prev_seq + 1:
            missing = prev_seq + 1
            return ChainReport(
                count,
                prev_seq,
                prev_mac,
                ChainBreak(
                    missing,
                    f"row missing: the chain jumps from seq {prev_seq} to seq {seq} (deleted)",
                ),
            )
        reason = _check_row(row, prev_mac, keys)
        if reason is None and seq in checkpoints:
            source, mac = checkpoints[seq]
            if not hmac.compare_digest(mac, row["mac"]):
                reason = f"MAC differs from {source}: the chain was rewritten from here on"
        if reason is not None:
            return ChainReport(count, prev_seq, prev_mac, ChainBreak(seq, reason))
        count, prev_seq, prev_mac = count + 1, seq, row["mac"]

    beyond = [(seq, source) for seq, (source, _mac) in checkpoints.items() if seq > prev_seq]
    if beyond:
        seq, source = max(beyond)
        return ChainReport(
            count,
            prev_seq,
            prev_mac,
            ChainBreak(
                prev_seq + 1,
                f"row missing: the chain ends at seq {prev_seq} but {source} is seq {seq} "
                "(rows removed from the end)",
            ),
        )
    return ChainReport(count, prev_seq, prev_mac)
