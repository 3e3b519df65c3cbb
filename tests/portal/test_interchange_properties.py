"""Property-based tests of the one reader every import shares (portal/core/interchange.py), and of
the kinds' row cleaners on top of it: whatever bytes or values a billing system sends, reading
raises nothing but ``InterchangeError`` (the whole file refused) and yields nothing but records
and line-numbered ``RowError``s; the column parsers never raise at all; and a valid record reads
back exactly as it was written, in CSV and in JSON Lines.

Example counts are kept modest (the suite runs twice in CI); the example database is off, so a
run leaves nothing behind in the working tree.
"""

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.bill_import import BILL_COLUMNS, OPTIONAL_COLUMNS, bills_import
from payments.bill_import import _clean as bill_clean
from payments.payment_import import PAYMENT_COLUMNS
from payments.payment_import import _clean as payment_clean
from portal.account_import import ACCOUNT_COLUMNS
from portal.account_import import _clean as account_clean
from portal.core.interchange import (
    Bounds,
    InterchangeError,
    RowError,
    date_value,
    decimal_value,
    read_records,
    text_value,
)

FAST = settings(max_examples=100, deadline=None, database=None)
SLOW = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
COLUMNS = {"number", "name", "amount"}
BOUNDS = Bounds(today=date(2026, 12, 6), now=datetime(2026, 12, 6, 2, 0, tzinfo=UTC))

# --- Strategies ---------------------------------------------------------------------------------

# Any str, lone surrogates and control characters included.
any_text = st.text(st.characters(categories=["L", "M", "N", "P", "S", "Z", "C"]), max_size=30)
# JSON-ish values: what a JSON document can hold, and the floats JSON cannot (NaN, ±inf), huge
# integers, and text with lone surrogates and NULs.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**39, max_value=10**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | any_text
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=12,
)
# Pieces a hand-written or corrupted JSON line may be made of.
json_fragments = st.sampled_from(
    ["{", "}", "[", "]", '"', ":", ",", "\\u", "\\ud800", "\\u0000", "NaN", "-Infinity", "1e999",
     "9" * 60, '"number"', '"name"', '"amount"', "null", "true", " ", "\\", "\x00", "\ufeff"]
)  # fmt: skip


@st.composite
def json_lines(draw, keys=tuple(COLUMNS)) -> bytes:
    """A JSON Lines body: records with the right keys and any values, arbitrary JSON values,
    and lines glued from fragments, each written with or without escaping non-ASCII."""
    lines = []
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        kind = draw(st.sampled_from(["record", "value", "fragments", "deep"]))
        if kind == "record":
            value = {key: draw(json_values) for key in keys}
        elif kind == "value":
            value = draw(json_values)
        elif kind == "deep":
            depth = draw(st.integers(min_value=1, max_value=200))
            lines.append("[" * depth + "]" * draw(st.integers(0, depth)))
            continue
        else:
            lines.append("".join(draw(st.lists(json_fragments, max_size=12))))
            continue
        try:
            lines.append(json.dumps(value, ensure_ascii=draw(st.booleans())))
        except ValueError:  # a float json.dumps will not write with allow_nan off (never here)
            continue
    text = "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))
    return text.encode("utf-8", errors="surrogatepass")


@st.composite
def csv_bodies(draw) -> bytes:
    """A CSV body: a header (usually the right one), rows of any text and any width, in UTF-8,
    GBK or with a byte-order mark."""
    header = draw(st.sampled_from([sorted(COLUMNS), sorted(COLUMNS)[::-1], ["number", "name"]]))
    cell = st.text(st.characters(codec="utf-8"), max_size=20)
    rows = draw(st.lists(st.lists(cell, min_size=0, max_size=5), max_size=6))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
    return text.encode(encoding)


def read_all(content: bytes, fmt: str) -> list:
    """Every item read_records yields, or the InterchangeError that refused the file."""
    try:
        return list(read_records(io.BytesIO(content), fmt=fmt, required=COLUMNS))
    except InterchangeError as error:
        assert str(error.message)
        return [error]


def assert_well_formed(items: list) -> None:
    """Line numbers increase; a record has exactly the columns; a RowError names its line."""
    lines = [item[0] for item in items if isinstance(item, tuple)]
    assert lines == sorted(lines)
    assert len(set(lines)) == len(lines)
    for item in items:
        if isinstance(item, InterchangeError):
            continue
        line, record = item
        if isinstance(record, RowError):
            assert record.line == line and record.reason
        else:
            assert set(record) == COLUMNS
            for value in record.values():
                if isinstance(value, str):
                    value.encode("utf-8")  # storable: no lone surrogate
                    assert "\x00" not in value


# --- The reader ---------------------------------------------------------------------------------


@FAST
@given(content=st.binary(max_size=400), fmt=st.sampled_from(["csv", "jsonl"]))
def test_any_bytes_are_read_or_refused_never_a_crash(content, fmt):
    assert_well_formed(read_all(content, fmt))


@FAST
@given(content=json_lines())
def test_any_json_lines_are_records_or_line_numbered_rejections(content):
    assert_well_formed(read_all(content, "jsonl"))


@FAST
@given(content=csv_bodies())
def test_any_csv_rows_are_records_or_line_numbered_rejections(content):
    assert_well_formed(read_all(content, "csv"))


plain_text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zs", "Zl", "Zp"]),
    min_size=1,
    max_size=20,
)
valid_records = st.lists(st.fixed_dictionaries(dict.fromkeys(COLUMNS, plain_text)), max_size=5)


@FAST
@given(records=valid_records, encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
def test_valid_csv_records_read_back_as_written(records, encoding):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=sorted(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    content = out.getvalue().encode(encoding)

    items = list(read_records(io.BytesIO(content), fmt="csv", required=COLUMNS))

    # Values never span lines here, so record n is on line n + 2 (the header is line 1).
    assert items == [(n + 2, record) for n, record in enumerate(records)]


@FAST
@given(records=valid_records, ascii_only=st.booleans())
def test_valid_json_lines_records_read_back_as_written(records, ascii_only):
    content = "".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in records).encode()

    if not records:
        with pytest.raises(InterchangeError):
            list(read_records(io.BytesIO(content), fmt="jsonl", required=COLUMNS))
        return
    items = list(read_records(io.BytesIO(content), fmt="jsonl", required=COLUMNS))

    assert items == [(n + 1, record) for n, record in enumerate(records)]


# --- The column parsers -------------------------------------------------------------------------


@FAST
@given(value=json_values)
def test_the_column_parsers_never_raise_and_either_parse_or_say_why(value):
    for parse in (
        lambda problems: text_value("c", value, problems, max_length=40),
        lambda problems: decimal_value("c", value, problems, maximum=Decimal(10**9)),
        lambda problems: decimal_value("c", value, problems, places=6, digits=6, positive=True),
        lambda problems: date_value("c", value, problems),
    ):
        problems: list[str] = []
        parsed = parse(problems)
        # Exactly one of: a value and no problem, or nothing and one problem.
        assert (parsed not in (None, "")) != (len(problems) == 1)


@FAST
@given(amount=st.decimals(min_value=0, max_value=Decimal("999999999999.99"), places=2))
def test_a_written_amount_reads_back(amount):
    problems: list[str] = []
    assert decimal_value("amount", str(amount), problems) == amount
    assert problems == []


@FAST
@given(day=st.dates())
def test_a_written_date_reads_back(day):
    problems: list[str] = []
    assert date_value("day", day.isoformat(), problems) == day
    assert problems == []


# --- The kinds' cleaners: any value in any column -----------------------------------------------


def records_of(columns) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(dict.fromkeys(columns, json_values))


@FAST
@given(record=records_of([*BILL_COLUMNS, "status", "lines"]))
def test_a_bill_row_of_any_values_is_a_row_or_its_problems(record):
    row, _key, problems = bill_clean(2, record, BOUNDS)
    assert (row is None) == bool(problems)


@FAST
@given(record=records_of(PAYMENT_COLUMNS))
def test_a_payment_row_of_any_values_is_a_row_or_its_problems(record):
    payment, _key, problems = payment_clean(2, record, bounds=BOUNDS)
    assert (payment is None) == bool(problems)
    if payment is not None:
        assert payment.on_date  # converting to Beijing time cannot overflow once accepted


@FAST
@given(record=records_of(ACCOUNT_COLUMNS))
def test_an_account_row_of_any_values_is_values_or_problems(record):
    values, problems = account_clean(record, known_tariffs=frozenset())
    assert problems or values["number"]


@FAST
@given(paid_at=st.datetimes(timezones=st.timezones()))
def test_any_payment_time_is_accepted_or_refused_never_an_overflow(paid_at):
    record = {
        "payment_reference": "P1",
        "bill_number": "B1",
        "amount": "1.00",
        "paid_at": paid_at.isoformat(),
        "channel": "counter",
    }
    payment, _key, problems = payment_clean(2, record, bounds=BOUNDS)
    assert (payment is None) == bool(problems)


# --- The whole runner, on the database ----------------------------------------------------------


@pytest.mark.django_db
@SLOW
@given(content=json_lines(keys=(*BILL_COLUMNS, *OPTIONAL_COLUMNS["jsonl"])), strict=st.booleans())
def test_the_bill_import_of_any_body_reports_or_refuses_never_crashes(content, strict):
    try:
        report = bills_import(
            stream=io.BytesIO(content), fmt="jsonl", file_name="any.jsonl", strict=strict
        )
    except InterchangeError:
        return
    # No account exists, so no row can be imported: each is rejected with its reason.
    assert report.rows == report.rejected
    assert report.created == 0
