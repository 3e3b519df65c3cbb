"""Amounts in Chinese capital numerals (人民币大写) as receipts print them: the rules of the
People's Bank of China's 《正确填写票据和结算凭证的基本规定》 and their worked examples."""

from decimal import Decimal

import pytest

from payments.numerals import rmb_capitals

CASES = [
    # The brief's and everyday amounts.
    ("123.45", "壹佰贰拾叁元肆角伍分"),
    ("100.00", "壹佰元整"),
    ("0.05", "伍分"),
    ("0.50", "伍角"),
    ("0.45", "肆角伍分"),
    ("0.00", "零元整"),
    ("1001.01", "壹仟零壹元零壹分"),
    ("10.50", "壹拾元伍角"),
    # Tens keep their 壹 (our choice, as banks print it).
    ("10.00", "壹拾元整"),
    ("15.00", "壹拾伍元整"),
    ("110.00", "壹佰壹拾元整"),
    ("20.00", "贰拾元整"),
    # The regulation's own examples (where it allows two spellings, the one we chose).
    ("1409.50", "壹仟肆佰零玖元伍角"),
    ("6007.14", "陆仟零柒元壹角肆分"),
    ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
    ("107000.53", "壹拾万柒仟元伍角叁分"),
    ("16409.02", "壹万陆仟肆佰零玖元零贰分"),
    ("325.04", "叁佰贰拾伍元零肆分"),
    # Zeros across the 万 and 亿 groups.
    ("10000.00", "壹万元整"),
    ("100010.00", "壹拾万零壹拾元整"),
    ("100500.00", "壹拾万零伍佰元整"),
    ("1000000.01", "壹佰万元零壹分"),
    ("100000000.00", "壹亿元整"),
    ("100005000.00", "壹亿零伍仟元整"),
    ("100010000.00", "壹亿零壹万元整"),
    ("1010.10", "壹仟零壹拾元壹角"),
    ("999999999999.99", "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
]


@pytest.mark.parametrize(("amount", "capitals"), CASES)
def test_amounts_are_written_in_capitals_by_the_rules(amount, capitals):
    assert rmb_capitals(Decimal(amount)) == capitals


def test_integers_and_strings_are_read_as_yuan():
    assert rmb_capitals(5) == "伍元整"
    assert rmb_capitals("5.1") == "伍元壹角"


@pytest.mark.parametrize("amount", ["-1.00", "0.001", "10000000000000000.00"])
def test_negative_fractional_fen_and_huge_amounts_are_refused(amount):
    with pytest.raises(ValueError):
        rmb_capitals(Decimal(amount))


def test_a_float_is_refused():
    with pytest.raises(ValueError):
        rmb_capitals(1.5)
