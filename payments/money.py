"""Money at the edges: yuan as ``Decimal`` with 2 places inside powerhall, integer fen (分) only
at the payment provider's boundary (Stripe's "smallest currency unit" for CNY).

The only two conversions, so a float or a third decimal can never slip across (STYLE.md).
"""

from decimal import ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
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


def yuan_to_fen(amount: Decimal) -> int:
    """Decimal yuan → integer fen, for Stripe's ``amount``. 123.45 → 12345."""
    return int(yuan(amount) * 100)


def fen_to_yuan(fen: int) -> Decimal:
    """Integer fen from Stripe → Decimal yuan. 12345 → Decimal("123.45")."""
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise MoneyError(f"{fen!r}: fen must be an integer")
    return (Decimal(fen) / 100).quantize(FEN)
