"""Money: yuan as ``Decimal`` with 2 places everywhere inside powerhall; integer fen (分) only at
the payment provider's boundary (Stripe's "smallest currency unit" for CNY). Unit prices carry
more places (docs/tariffs.md) and are never rounded here.

The one home of the money constants, the two exact conversions at the Stripe boundary (so a float
or a third decimal can never slip across, STYLE.md) and the two ways an amount is written out:
plain for machines, with ¥ and separators for people.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
CURRENCY = "cny"


class MoneyError(ValueError):
    """A programming error: an amount that is not exact yuan-and-fen."""


def yuan(value) -> Decimal:
    """``value`` (a Decimal, int or numeric string) as yuan with 2 places. Refuses floats and
    anything finer than a fen rather than rounding money silently."""
    if isinstance(value, float | bool):
        raise MoneyError(f"{value!r}: money is never a float")
    amount = Decimal(value)
    if not amount.is_finite() or amount != amount.quantize(FEN, rounding=ROUND_HALF_UP):
        raise MoneyError(f"{value!r} is not a whole number of fen")
    return amount.quantize(FEN)


def to_fen(value: Decimal) -> Decimal:
    """An exact amount (a sum of penalty days, a prorated charge) rounded half-up to the fen,
    the one rounding money gets (docs/bills.md)."""
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def yuan_to_fen(amount: Decimal) -> int:
    """Decimal yuan → integer fen, for Stripe's ``amount``. 123.45 → 12345."""
    return int(yuan(amount) * 100)


def fen_to_yuan(fen: int) -> Decimal:
    """Integer fen from Stripe → Decimal yuan. 12345 → Decimal("123.45")."""
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise MoneyError(f"{fen!r}: fen must be an integer")
    return (Decimal(fen) / 100).quantize(FEN)


def plain(amount: Decimal) -> str:
    """For machines (interchange messages, receipts' data): ``1234.50``."""
    return f"{amount:.2f}"


def display(value) -> str:
    """For people: ``¥1,234.50``, rounded half-up to the fen; ``−¥12.00`` for a negative amount
    (a refund); "" for nothing or something that is not a number."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return ""
    text = f"{to_fen(abs(amount)):,}"
    return f"−¥{text}" if amount < 0 else f"¥{text}"
