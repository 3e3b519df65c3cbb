"""Amounts in Chinese capital numerals (人民币大写), as receipts, cheques and bank slips print them:
123.45 → 壹佰贰拾叁元肆角伍分.

The rules are those of the People's Bank of China's 《正确填写票据和结算凭证的基本规定》
(part of the 《支付结算办法》, 1997), section 2:

- 整 (or 正) follows 元 when there are no 角 and no 分: 100.00 → 壹佰元整. It may be left out after
  角 and is never written after 分: 10.50 → 壹拾元伍角; 0.05 → 伍分.
- A zero between digits is written 零: 1409.50 → 壹仟肆佰零玖元伍角; several zeros in a row are
  one 零: 6007.14 → 陆仟零柒元壹角肆分.
- When 角 is zero and 分 is not, 零 follows 元: 1001.01 → 壹仟零壹元零壹分;
  325.04 → 叁佰贰拾伍元零肆分.
- When the 元 or 万 digit is zero and the next lower digit (角 or 仟) is not, "one 零 may be
  written, or none" (1680.32: 壹仟陆佰捌拾元[零]叁角贰分; 107000.53: 壹拾万[零]柒仟元[零]伍角叁分).
  We write none: 10.50 → 壹拾元伍角, 107000.53 → 壹拾万柒仟元伍角叁分. Zeros that go on below
  the 万 digit (仟 zero too), or fill a whole group of four, are written like any zeros between
  digits: 100500 → 壹拾万零伍佰元整, 100005000 → 壹亿零伍仟元整.

Choices the rules leave open, made once here:
- Tens are written with their 壹: 10 → 壹拾元整, 100010 → 壹拾万零壹拾元整. Banks and the rules'
  examples (壹拾万…) write it, and a bare 拾 is easy to alter by adding a digit in front.
- No prefix: the document prints 人民币 (or ¥) itself.
- No 整 after 角 (the rules allow either).
"""

from decimal import Decimal

from portal.core.money import yuan

DIGITS = "零壹贰叁肆伍陆柒捌玖"
IN_GROUP = ("", "拾", "佰", "仟")
GROUPS = ("", "万", "亿", "万亿")
LIMIT = Decimal(10) ** (4 * len(GROUPS))


def _group(value: int) -> str:
    """1..9999 in capitals, with one 零 for each run of zeros between digits."""
    text, zero = "", False
    for position in range(3, -1, -1):
        digit = value // 10**position % 10
        if digit == 0:
            zero = bool(text)
            continue
        if zero:
            text += "零"
            zero = False
        text += DIGITS[digit] + IN_GROUP[position]
    return text


def _integer(value: int) -> str:
    """The yuan part, groups of four digits (个, 万, 亿, 万亿) from the highest."""
    groups = []
    while value:
        value, group = divmod(value, 10000)
        groups.append(group)
    text, zero = "", False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            zero = bool(text)  # e.g. 1,0000,5000: 壹亿零伍仟
            continue
        # A group under 1000 after a higher one starts with zeros: 10,0500 → 壹拾万零伍佰. A zero
        # only in the 万 digit before a 仟 is the rules' optional 零, left out: 壹拾万柒仟.
        if text and (zero or group < 1000):
            text += "零"
        text += _group(group) + GROUPS[index]
        zero = False
    return text


def rmb_capitals(amount) -> str:
    """``amount`` yuan (a Decimal, int or string: exact fen, not negative) in capitals.

    Raises ``ValueError`` for a negative amount, one finer than a fen (money is never rounded
    here) or one of 10^16 yuan or more."""
    amount = yuan(amount)
    if amount < 0:
        raise ValueError(f"{amount}: capitals are written for amounts of zero or more")
    if amount >= LIMIT:
        raise ValueError(f"{amount}: too large for capitals")
    whole = int(amount)
    fen_total = int((amount - whole) * 100)
    jiao, fen = divmod(fen_total, 10)
    text = _integer(whole)
    if whole:
        text += "元"
    if not jiao and not fen:
        return (text or "零元") + "整"
    if jiao:
        text += DIGITS[jiao] + "角"
    elif whole:
        text += "零"  # 角 is zero, 分 is not: 壹仟零壹元零壹分
    if fen:
        text += DIGITS[fen] + "分"
    return text
