"""Yuan inside, integer fen only at Stripe's boundary: the two conversions are exact and refuse
what is not money."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.core.money import MoneyError, fen_to_yuan, yuan, yuan_to_fen


@pytest.mark.parametrize(
    ("amount", "fen"),
    [
        (Decimal("0.00"), 0),
        (Decimal("0.01"), 1),
        (Decimal("123.45"), 12345),
        (Decimal("1000"), 100000),
        (Decimal("99999999.99"), 9999999999),
    ],
)
def test_yuan_and_fen_convert_exactly_both_ways(amount, fen):
    assert yuan_to_fen(amount) == fen
    assert fen_to_yuan(fen) == amount
    assert str(fen_to_yuan(fen)).count(".") == 1 and len(str(fen_to_yuan(fen)).split(".")[1]) == 2


@pytest.mark.parametrize("bad", [0.1, 123.45, Decimal("1.005"), Decimal("NaN"), "1.001", True])
def test_a_float_or_a_fraction_of_a_fen_is_refused(bad):
    with pytest.raises(MoneyError):
        yuan_to_fen(bad)


@pytest.mark.parametrize("bad", [1.0, "100", True, Decimal("100")])
def test_fen_must_be_an_integer(bad):
    with pytest.raises(MoneyError):
        fen_to_yuan(bad)


def test_yuan_normalises_whole_amounts_to_two_places():
    assert str(yuan(5)) == "5.00"
    assert str(yuan("12.5")) == "12.50"


@given(st.integers(min_value=0, max_value=10**12))
def test_round_trip_from_fen_is_the_identity(fen):
    assert yuan_to_fen(fen_to_yuan(fen)) == fen
