"""Reading the fields of the provider's JSON one by one, each checked for its type and bounds:
the readers return the value or raise ``ShapeUnusable`` naming the field (``data.object.amount``)
and what is wrong with it. Used by ``IntentState.from_stripe`` and ``payments.webhooks``.

JSON's own type names (object, array, string, number, boolean, null) say what was found: staff
reading a reason compare it with the body kept beside it, which uses the same words.
"""

from django.utils.translation import gettext as _

from .errors import ShapeUnusable

MISSING = object()
"""What ``field`` gives for a key that is not there (told apart from ``null``)."""


def kind(value) -> str:
    """JSON's name for the type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def field(container: dict, key: str):
    return container.get(key, MISSING)


def obj(value, path: str, *, optional: bool = False) -> dict:
    """An object; with ``optional``, a missing one or ``null`` is an empty object."""
    if optional and (value is MISSING or value is None):
        return {}
    if value is MISSING:
        raise ShapeUnusable(_("%(field)s is missing") % {"field": path})
    if not isinstance(value, dict):
        raise ShapeUnusable(
            _("%(field)s must be an object, not %(kind)s") % {"field": path, "kind": kind(value)}
        )
    return value


def text(value, path: str, *, max_length: int, optional: bool = False) -> str:
    """A string of at most ``max_length`` characters (not empty unless ``optional``, where a
    missing one or ``null`` is the empty string)."""
    if optional and (value is MISSING or value is None or value == ""):
        return ""
    if value is MISSING or value == "":
        raise ShapeUnusable(_("%(field)s is missing") % {"field": path})
    if not isinstance(value, str):
        raise ShapeUnusable(
            _("%(field)s must be a string, not %(kind)s") % {"field": path, "kind": kind(value)}
        )
    if len(value) > max_length:
        raise ShapeUnusable(
            _("%(field)s is longer than %(limit)s characters")
            % {"field": path, "limit": max_length}
        )
    return value


def whole_number(value, path: str, *, maximum: int) -> int:
    """An integer from 0 to ``maximum`` (not a boolean, not a number with a fraction or an
    exponent, not a string of digits)."""
    if value is MISSING:
        raise ShapeUnusable(_("%(field)s is missing") % {"field": path})
    if isinstance(value, bool) or not isinstance(value, int):
        raise ShapeUnusable(
            _("%(field)s must be a whole number, not %(kind)s")
            % {"field": path, "kind": kind(value)}
        )
    if not 0 <= value <= maximum:
        raise ShapeUnusable(
            _("%(field)s is outside 0 to %(limit)s") % {"field": path, "limit": maximum}
        )
    return value


def texts(value, path: str, *, max_items: int, max_length: int) -> tuple[str, ...]:
    """An array of strings (a missing one or ``null``: empty)."""
    if value is MISSING or value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise ShapeUnusable(
            _("%(field)s must be an array, not %(kind)s") % {"field": path, "kind": kind(value)}
        )
    if len(value) > max_items:
        raise ShapeUnusable(
            _("%(field)s has more than %(limit)s items") % {"field": path, "limit": max_items}
        )
    return tuple(
        text(item, f"{path}[{index}]", max_length=max_length) for index, item in enumerate(value)
    )
