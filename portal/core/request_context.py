"""Who is asking, from where, under which request id: read by the audit log and the log lines."""

import contextvars
import re
import uuid
from dataclasses import dataclass

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    ip: str = ""
    user_agent: str = ""


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "powerhall_request_context", default=None
)


def new_request_id(incoming: str | None = None) -> str:
    """Keep a sane id set by the proxy in front of us (X-Request-ID), otherwise make one."""
    if incoming and _REQUEST_ID_RE.match(incoming):
        return incoming
    return uuid.uuid4().hex[:16]


def current() -> RequestContext | None:
    return _current.get()


def activate(context: RequestContext) -> contextvars.Token:
    return _current.set(context)


def deactivate(token: contextvars.Token) -> None:
    _current.reset(token)
