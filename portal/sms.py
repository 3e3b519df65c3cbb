"""Sending text messages (SMS) through one small interface.

``sms_send`` is all the rest of the code calls. The backend is chosen by ``SMS_BACKEND``: the
embedded default writes each message as a JSON file under ``SMS_FILE_PATH`` (var/sms/) so a demo
user or a test can read the code; a real provider plugs in as another class with ``send``.
"""

import itertools
import json
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string

from .core import clock


@dataclass(frozen=True)
class SmsMessage:
    phone: str
    body: str
    purpose: str  # "verification_code", "notification", …: lets providers pick a template


class SmsBackend:
    def send(self, message: SmsMessage) -> str:
        """Send one message and return the provider's message id."""
        raise NotImplementedError


# Orders the messages one process writes within the same clock reading (a test's pinned clock).
_sequence = itertools.count()


class FileSmsBackend(SmsBackend):
    """Writes one JSON file per message: <SMS_FILE_PATH>/<timestamp>-<sequence>-<id>.json."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path or settings.SMS_FILE_PATH)

    def send(self, message: SmsMessage) -> str:
        self.path.mkdir(parents=True, exist_ok=True)
        message_id = uuid.uuid4().hex
        sent_at = clock.now()
        record = {"id": message_id, "sent_at": sent_at.isoformat(), **asdict(message)}
        name = f"{sent_at:%Y%m%dT%H%M%S%f}-{next(_sequence):09d}-{message_id[:8]}.json"
        (self.path / name).write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        return message_id

    def messages(self) -> list[dict]:
        """Every message written so far, oldest first (for tests and the demo)."""
        if not self.path.exists():
            return []
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(self.path.glob("*.json"))]


def get_backend() -> SmsBackend:
    return import_string(settings.SMS_BACKEND)()


def sms_send(*, phone: str, body: str, purpose: str) -> str:
    return get_backend().send(SmsMessage(phone=phone, body=body, purpose=purpose))
