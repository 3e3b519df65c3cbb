"""How money, prices, rates and statuses read on the bill pages: ``{% load bill_format %}``.

Amounts are shown exactly as stored (Decimal, never float): ``¥1,234.50``; unit prices keep the
decimals they carry (up to 6) but at least 2; a daily rate as a percentage (0.001 → 0.1%).
"""

from decimal import Decimal, InvalidOperation

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from portal.core import money

register = template.Library()


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None


@register.filter
def yuan(value) -> str:
    """¥ and the amount with thousands separators and 2 decimals (rounded half-up, as penalties
    are); a minus sign for negatives (``portal.core.money.display``)."""
    return money.display(value)


@register.filter
def exact(value) -> str:
    """An exact amount (a penalty sum before rounding), without trailing zeros beyond 2 places."""
    amount = _decimal(value)
    if amount is None:
        return ""
    text = f"{amount.normalize():f}"
    whole, _, fraction = text.partition(".")
    return f"¥{int(whole):,}.{fraction.ljust(2, '0')}"


@register.filter
def price(value) -> str:
    """A unit price: as many decimals as it has (at least 2)."""
    amount = _decimal(value)
    if amount is None:
        return ""
    whole, _, fraction = f"{amount.normalize():f}".partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


@register.filter
def percent(value) -> str:
    """A daily rate as a percentage: 0.001 → 0.1%, 0.0025 → 0.25%."""
    rate = _decimal(value)
    if rate is None:
        return ""
    text = f"{(rate * 100).normalize():f}"
    return f"{text}%"


@register.filter
def kwh(value) -> str:
    """kWh with thousands separators, without trailing zeros: 1,234.5."""
    amount = _decimal(value)
    if amount is None:
        return ""
    text = f"{amount.quantize(Decimal('0.01')):,}"
    return text.rstrip("0").rstrip(".") if "." in text else text


BADGE_CLASSES = {"paid": "badge badge--success", "cancelled": "badge"}
_badges: dict[tuple[str, str, bool], SafeString] = {}


@register.simple_tag
def status_badge(bill, overdue=False) -> SafeString:
    """A bill's status as a badge: ``{% status_badge bill overdue=bill.is_overdue %}``.
    ``overdue`` (unpaid past the due date) turns an unpaid bill's badge red and says so. A tag
    rather than an included template, and each badge made once per language and kept: the bill
    table draws one a row, and the status label's translation costs more than the rest."""
    key = (get_language(), bill.status, bool(overdue))
    badge = _badges.get(key)
    if badge is None:
        if overdue:
            badge = format_html('<span class="badge badge--danger">{}</span>', _("Overdue"))
        else:
            css = BADGE_CLASSES.get(bill.status, "badge badge--warning")
            badge = format_html('<span class="{}">{}</span>', css, bill.get_status_display())
        _badges[key] = badge
    return badge
