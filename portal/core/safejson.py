"""JSON from outside systems, parsed within bounds (docs/integration.md, "Bounds").

Python's ``json.loads`` trusts its input more than a boundary may: 100,000 nested brackets raise
``RecursionError``, a 5,000-digit integer ``ValueError`` (or, below Python's limit, a number no
column holds), ``1e999`` becomes an infinite float, ``NaN`` and ``Infinity`` are accepted although
JSON has neither, and ``"\\ud800"`` (a lone surrogate) or ``"\\u0000"`` become strings that
PostgreSQL refuses to store and UTF-8 cannot encode. ``loads`` refuses each of them with
``UnsafeJSON`` and a reason fit to show the sender; what it returns can be stored and encoded.

The checks cost next to nothing on ordinary input: the nesting scan and the string walk run only
when a cheap count says they might find something.
"""

import json
import math
import re

from django.utils.translation import gettext as _

from .errors import PowerhallError

MAX_DEPTH = 32
"""Nesting of objects and arrays. Our records are flat; a webhook event nests about six deep."""
MAX_NUMBER_DIGITS = 40
"""Digits in one number (integer or decimal). Money has 14, a Stripe amount in fen at most 12."""

_ESCAPE_RE = re.compile(r"\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)")


class UnsafeJSON(PowerhallError):
    """The text is not JSON, or JSON outside the bounds. ``message`` says which, in words."""


def _refuse_constant(name: str):
    raise UnsafeJSON(_("%(name)s is not a JSON number") % {"name": name})


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise UnsafeJSON(
            _("a number has more than %(digits)s digits") % {"digits": MAX_NUMBER_DIGITS}
        )
    return int(text)


def _float(text: str) -> float:
    digits = sum(c.isdigit() for c in text)
    if digits > MAX_NUMBER_DIGITS:
        raise UnsafeJSON(
            _("a number has more than %(digits)s digits") % {"digits": MAX_NUMBER_DIGITS}
        )
    value = float(text)
    if not math.isfinite(value):
        raise UnsafeJSON(_("a number is too large: %(number)s") % {"number": text[:40]})
    return value


def _depth(text: str) -> int:
    """The deepest nesting of brackets outside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _check_strings(value) -> None:
    """Refuse a lone surrogate or a NUL in any string, key or value, however deep."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise UnsafeJSON(_("a text contains a NUL character (\\u0000)"))
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise UnsafeJSON(
                    _("a text contains a lone surrogate (such as \\ud800), not a character")
                ) from None


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH):
    """The value of one JSON text, or ``UnsafeJSON``. Bytes must be UTF-8."""
    if isinstance(text, bytes | bytearray):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UnsafeJSON(_("the text is not UTF-8")) from None
    if text.count("[") + text.count("{") > max_depth and _depth(text) > max_depth:
        raise UnsafeJSON(
            _("objects and arrays are nested more than %(depth)s deep") % {"depth": max_depth}
        )
    try:
        value = json.loads(
            text, parse_int=_integer, parse_float=_float, parse_constant=_refuse_constant
        )
    except json.JSONDecodeError as error:
        raise UnsafeJSON(
            _("not valid JSON: %(error)s (at character %(position)s)")
            % {"error": error.msg, "position": error.pos + 1}
        ) from None
    except RecursionError:  # the scan above makes this unreachable; kept as the last net
        raise UnsafeJSON(_("objects and arrays are nested too deep")) from None
    if _ESCAPE_RE.search(text):
        _check_strings(value)
    return value
