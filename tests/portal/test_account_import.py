"""Importing electricity accounts from billing-system files: `manage.py import_accounts` and the
service behind it (portal/account_import.py, portal/interchange.py; docs/integration.md)."""

import hashlib
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import translation

from payments.models import Tariff
from portal.account_import import ACCOUNT_COLUMNS, accounts_import
from portal.core.interchange import InterchangeError
from portal.core.jobs import ExitStatus
from portal.integration import integration_client_create
from portal.models import (
    AccountStatus,
    AuditEvent,
    CustomerClass,
    IntegrationScope,
    ServiceAccount,
)

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "accounts"
HEADER = ",".join(ACCOUNT_COLUMNS)


@pytest.fixture(autouse=True)
def _english():
    """The messages asserted below are the English source strings."""
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def tariffs():
    """The tariffs the portal knows; HV-10KV-TOU in the sample files is deliberately not one."""
    Tariff.objects.create(code="RES-TIER", name="居民阶梯电价")
    Tariff.objects.create(code="LV-BIZ", name="一般工商业电价")


def run(path, *args, status=ExitStatus.DONE):
    """Run the command; return (stdout, stderr). Expecting a status other than 0, check it and
    add the CommandError's message to stderr, as the shell shows it; otherwise a CommandError
    propagates with its returncode."""
    out, err = io.StringIO(), io.StringIO()
    if status == ExitStatus.DONE:
        call_command("import_accounts", str(path), *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()
    with pytest.raises(CommandError) as stopped:
        call_command("import_accounts", str(path), *args, stdout=out, stderr=err)
    assert stopped.value.returncode == status
    return out.getvalue(), err.getvalue() + str(stopped.value)


def write(tmp_path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def csv_row(number="3100050001", **values) -> str:
    row = {
        "account_number": number,
        "holder_name": "王芳",
        "address": "静安区南京西路 1 号",
        "district": "静安区",
        "feeder": "",
        "customer_class": "residential",
        "tariff_code": "RES-TIER",
        "status": "active",
        "meter_number": "M0050000001",
        "phone": "",
        "email": "",
    } | values
    return ",".join(row[column] for column in ACCOUNT_COLUMNS)


def csv_file(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def accounts_snapshot() -> dict:
    return {
        a["number"]: a
        for a in ServiceAccount.objects.values(
            "number", *[c for c in ACCOUNT_COLUMNS if c != "account_number"], "tariff_unknown"
        )
    }


def import_audits():
    return list(AuditEvent.objects.filter(action="accounts.imported").order_by("seq"))


# --- Good files ---------------------------------------------------------------------------------


def test_good_csv_creates_every_account_with_normalised_values():
    out, err = run(FIXTURES / "accounts.csv")

    assert "4 rows: 4 created, 0 updated, 0 unchanged, 0 rejected, 1 flagged" in out
    assert err == ""  # no progress bar when stderr is not a terminal
    assert ServiceAccount.objects.count() == 4
    zhang = ServiceAccount.objects.get(number="3100012345")
    assert zhang.holder_name == "张伟"
    assert zhang.address == "浦东新区世纪大道 100 号 1201 室"
    assert zhang.customer_class == CustomerClass.RESIDENTIAL
    assert zhang.status == AccountStatus.ACTIVE
    assert zhang.phone == "+8613800138000"  # "138 0013 8000" normalised
    assert zhang.tariff_unknown is False
    li = ServiceAccount.objects.get(number="3100012346")
    assert li.address == "徐汇区漕溪北路 88 号, 3 楼"  # quoted comma
    assert (li.feeder, li.phone, li.email) == ("", "", "")
    business = ServiceAccount.objects.get(number="3100020001")
    assert business.phone == "+8613900139000"
    assert business.status == AccountStatus.SUSPENDED


def test_good_jsonl_creates_the_same_accounts_as_the_csv():
    run(FIXTURES / "accounts.csv")
    from_csv = accounts_snapshot()
    ServiceAccount.objects.all().delete()

    out, _err = run(FIXTURES / "accounts.jsonl")

    assert "4 rows: 4 created" in out
    assert accounts_snapshot() == from_csv


def test_second_run_of_the_same_file_changes_nothing_not_even_updated_at():
    run(FIXTURES / "accounts.csv")
    before = dict(ServiceAccount.objects.values_list("number", "updated_at"))

    out, _err = run(FIXTURES / "accounts.csv")

    assert "4 rows: 0 created, 0 updated, 4 unchanged, 0 rejected, 1 flagged" in out
    assert dict(ServiceAccount.objects.values_list("number", "updated_at")) == before


def test_a_changed_row_updates_that_account_only(tmp_path):
    run(FIXTURES / "accounts.csv")
    before = dict(ServiceAccount.objects.values_list("number", "updated_at"))
    text = (FIXTURES / "accounts.csv").read_text().replace(",suspended,", ",active,")

    out, _err = run(write(tmp_path, "changed.csv", text))

    assert "4 rows: 0 created, 1 updated, 3 unchanged" in out
    after = dict(ServiceAccount.objects.values_list("number", "updated_at"))
    assert after["3100020001"] > before["3100020001"]
    assert {n: t for n, t in after.items() if n != "3100020001"} == {
        n: t for n, t in before.items() if n != "3100020001"
    }
    assert ServiceAccount.objects.get(number="3100020001").status == AccountStatus.ACTIVE


def test_rows_with_different_changes_in_one_batch_are_all_written(tmp_path):
    run(FIXTURES / "accounts.csv")
    text = (
        (FIXTURES / "accounts.csv")
        .read_text()
        .replace(",suspended,", ",closed,")
        .replace("138 0013 8000,zhangwei@example.cn", ",zhang.wei@example.cn")
        .replace("闵行区莘庄工业区春中路 1 号,闵行区", "闵行区春中路 2 号,闵行区")
    )

    out, _err = run(write(tmp_path, "changed.csv", text))

    assert "0 created, 3 updated, 1 unchanged" in out
    zhang = ServiceAccount.objects.get(number="3100012345")
    assert (zhang.phone, zhang.email) == ("", "zhang.wei@example.cn")
    assert ServiceAccount.objects.get(number="3100020001").status == AccountStatus.CLOSED
    assert ServiceAccount.objects.get(number="3100030001").address == "闵行区春中路 2 号"
    assert ServiceAccount.objects.get(number="3100012346").holder_name == "李娜"


def test_format_is_taken_from_the_extension_or_from_format(tmp_path):
    jsonl = (FIXTURES / "accounts.jsonl").read_bytes()

    with pytest.raises(CommandError) as refused:
        run(write(tmp_path, "accounts.txt", jsonl))
    assert refused.value.returncode == 2
    assert "--format" in str(refused.value)

    out, _err = run(write(tmp_path, "accounts.txt", jsonl), "--format", "jsonl")
    assert "4 created" in out
    out, _err = run(write(tmp_path, "accounts.ndjson", jsonl))
    assert "4 unchanged" in out


def test_a_missing_file_is_refused_with_exit_status_2(tmp_path):
    with pytest.raises(CommandError) as refused:
        run(tmp_path / "nowhere.csv")

    assert refused.value.returncode == 2
    assert "nowhere.csv" in str(refused.value)


# --- Rejected rows ------------------------------------------------------------------------------


def test_rejected_rows_are_listed_with_line_and_reason_and_the_good_rows_imported():
    out, err = run(FIXTURES / "rejects.csv", status=ExitStatus.NEEDS_PERSON)

    lines = out.splitlines()
    expected = {
        3: "account_number must be 6 to 20 digits",
        4: "holder_name is empty",
        5: 'customer_class must be one of residential, lv_business, hv_single, hv_dual, not "farm"',
        6: 'status must be one of active, suspended, closed, not "disconnected"',
        7: "meter_number is empty",
        8: "phone: ",
        9: "email is not a valid e-mail address",
        10: "expected 11 fields, found 9",
        11: "account number 3100012345 already appears on line 2",
    }
    for line, reason in expected.items():
        assert any(text.startswith(f"line {line}: ") and reason in text for text in lines), line
    assert not any(text.startswith(("line 2:", "line 12:")) for text in lines)
    assert "11 rows: 2 created, 0 updated, 0 unchanged, 9 rejected, 0 flagged" in out
    assert "9 row(s) were rejected and not imported" in err
    assert set(ServiceAccount.objects.values_list("number", flat=True)) == {
        "3100012345",
        "3100040010",
    }
    # The reasons come before the summary.
    assert out.index("line 11:") < out.index("11 rows:")


def test_a_number_repeated_in_a_file_is_rejected_on_its_second_occurrence_naming_the_first(
    tmp_path,
):
    path = write(
        tmp_path,
        "dupes.csv",
        csv_file(
            csv_row("3100050001", holder_name="第一次"),
            csv_row("3100050002"),
            csv_row("3100050001", holder_name="第二次"),
        ),
    )

    out, _err = run(path, status=ExitStatus.NEEDS_PERSON)

    assert "line 4: account number 3100050001 already appears on line 2" in out
    assert ServiceAccount.objects.get(number="3100050001").holder_name == "第一次"


def test_duplicates_are_caught_across_batches(tmp_path):
    rows = [csv_row(f"31000600{n:02d}") for n in range(10)] + [csv_row("3100060001")]
    stream = io.BytesIO(csv_file(*rows).encode())

    report = accounts_import(stream=stream, fmt="csv", file_name="batches.csv", batch_size=3)

    assert (report.rows, report.created, report.rejected) == (11, 10, 1)
    assert report.errors[0].line == 12
    assert "already appears on line 3" in report.errors[0].reason


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"number": "31000ABCDE"}, "account_number must be 6 to 20 digits"),
        ({"number": "３１０００１２３４５"}, "account_number must be 6 to 20 digits"),  # full-width
        ({"number": "1" * 21}, "account_number must be 6 to 20 digits"),
        ({"holder_name": "张" * 201}, "holder_name is longer than 200 characters"),
        ({"address": "地" * 301}, "address is longer than 300 characters"),
        ({"tariff_code": "T" * 41}, "tariff_code is longer than 40 characters"),
        ({"meter_number": "M" * 41}, "meter_number is longer than 40 characters"),
        ({"phone": "+86 12345"}, "phone: "),
        ({"phone": "0755-12345678"}, "phone: "),
        ({"email": "zhang@"}, "email is not a valid e-mail address"),
        ({"customer_class": "Residential"}, "customer_class must be one of"),
        ({"status": ""}, "status is empty"),
        ({"district": "\t"}, "district is empty"),
        ({"address": '"静安区\n南京西路"'}, "address contains a line break"),
    ],
)
def test_impossible_values_are_rejected_with_the_reason(tmp_path, values, reason):
    number = values.pop("number", "3100050001")
    out, _err = run(
        write(tmp_path, "bad.csv", csv_file(csv_row(number, **values))),
        status=ExitStatus.NEEDS_PERSON,
    )

    assert "line 2: " in out and reason in out
    assert ServiceAccount.objects.count() == 0


def test_every_problem_of_a_row_is_reported_at_once(tmp_path):
    path = write(tmp_path, "bad.csv", csv_file(csv_row("12", holder_name="", status="gone")))

    out, _err = run(path, status=ExitStatus.NEEDS_PERSON)

    line = next(text for text in out.splitlines() if text.startswith("line 2: "))
    assert "account_number must be 6 to 20 digits" in line
    assert "holder_name is empty" in line
    assert 'not "gone"' in line


def test_jsonl_values_must_be_text_and_keys_exact(tmp_path):
    good = json.loads((FIXTURES / "accounts.jsonl").read_text().splitlines()[0])
    lines = [
        json.dumps(good | {"account_number": 3100012345}),
        json.dumps(good | {"account_number": "3100012399", "colour": "blue"}),
        json.dumps(
            {k: v for k, v in good.items() if k != "email"} | {"account_number": "3100012398"}
        ),
        "[1, 2, 3]",
        "{not json",
        json.dumps(good | {"account_number": "3100012397", "holder_name": None}),
        json.dumps(good | {"account_number": "3100012396", "feeder": None, "phone": None}),
    ]

    out, _err = run(
        write(tmp_path, "bad.jsonl", "\n".join(lines) + "\n"), status=ExitStatus.NEEDS_PERSON
    )

    assert "line 1: account_number must be text (in quotes)" in out
    assert 'line 2: unknown key(s): "colour"' in out
    assert 'line 3: missing key(s): "email"' in out
    assert "line 4: each line must be a JSON object" in out
    assert "line 5: not valid JSON" in out
    assert "line 6: holder_name is empty" in out
    assert "7 rows: 1 created" in out
    assert ServiceAccount.objects.get(number="3100012396").feeder == ""


# --- Files refused as a whole -------------------------------------------------------------------


def test_an_unknown_column_refuses_the_whole_file(tmp_path):
    text = csv_file(csv_row()).replace("email\n", "email,colour\n").replace(",\n", ",,red\n", 1)

    with pytest.raises(CommandError) as refused:
        run(write(tmp_path, "extra.csv", text))

    assert refused.value.returncode == 2
    assert 'Unknown column(s): "colour"' in str(refused.value)
    assert ServiceAccount.objects.count() == 0
    assert import_audits() == []


def test_a_missing_column_refuses_the_whole_file(tmp_path):
    rows = [line.rsplit(",", 1)[0] for line in csv_file(csv_row()).splitlines()]

    with pytest.raises(CommandError) as refused:
        run(write(tmp_path, "short.csv", "\n".join(rows) + "\n"))

    assert refused.value.returncode == 2
    assert 'Missing column(s): "email"' in str(refused.value)
    assert ServiceAccount.objects.count() == 0


def test_an_empty_file_is_refused(tmp_path):
    with pytest.raises(CommandError) as refused:
        run(write(tmp_path, "empty.csv", ""))

    assert refused.value.returncode == 2
    assert "empty" in str(refused.value)


# --- Encodings ----------------------------------------------------------------------------------


def test_a_gbk_file_from_excel_on_windows_is_read_correctly(tmp_path):
    text = (FIXTURES / "accounts.csv").read_text(encoding="utf-8").replace("\n", "\r\n")
    path = write(tmp_path, "accounts-gbk.csv", text.encode("gbk"))

    out, _err = run(path)

    assert "4 rows: 4 created" in out
    assert ServiceAccount.objects.get(number="3100030001").holder_name == "上海浦江精密制造有限公司"
    assert ServiceAccount.objects.get(number="3100012345").feeder == "10kV 世纪线"


def test_a_gbk_file_whose_first_rows_are_ascii_is_still_read_as_gbk(tmp_path):
    ascii_rows = [csv_row(f"31000700{n:02d}", holder_name=f"Holder {n}") for n in range(50)]
    text = csv_file(*ascii_rows, csv_row("3100079999", holder_name="欧阳娜娜"))

    run(write(tmp_path, "late-gbk.csv", text.encode("gbk")))

    assert ServiceAccount.objects.get(number="3100079999").holder_name == "欧阳娜娜"


def test_a_line_longer_than_a_mebibyte_refuses_the_file(tmp_path):
    text = csv_file(csv_row(), csv_row("3100050002", address="地" * 400_000))

    with pytest.raises(CommandError) as refused:
        run(write(tmp_path, "huge.csv", text))

    assert refused.value.returncode == 2
    assert "Line 3 is longer than" in str(refused.value)
    assert ServiceAccount.objects.count() == 0


def test_a_utf8_file_with_a_byte_order_mark_is_read(tmp_path):
    content = (FIXTURES / "accounts.csv").read_text(encoding="utf-8").encode("utf-8-sig")

    out, _err = run(write(tmp_path, "bom.csv", content))

    assert "4 rows: 4 created" in out  # the BOM is not part of the first column's name


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_utf16_file_is_refused_with_the_encoding_message(tmp_path, encoding):
    content = (FIXTURES / "accounts.csv").read_text(encoding="utf-8").encode(encoding)

    with pytest.raises(CommandError) as refused:
        run(write(tmp_path, "accounts.csv", content))

    assert refused.value.returncode == 2
    assert "neither UTF-8 nor GBK" in str(refused.value)
    assert ServiceAccount.objects.count() == 0


def test_a_latin1_file_is_refused_with_the_encoding_message(tmp_path):
    row = csv_row(
        holder_name="José Müller", address="Bahnhofstraße 1", district="Zürich", tariff_code="X"
    )
    text = csv_file(row)

    with pytest.raises(CommandError) as refused:
        run(write(tmp_path, "latin1.csv", text.encode("latin-1")))

    assert "neither UTF-8 nor GBK" in str(refused.value)
    assert ServiceAccount.objects.count() == 0


def test_a_file_that_switches_encoding_half_way_imports_nothing(tmp_path):
    utf8_part = csv_file(*[csv_row(f"31000800{n:02d}", holder_name="张三") for n in range(5)])
    gbk_line = csv_row("3100089999", holder_name="李四") + "\n"
    content = utf8_part.encode() + gbk_line.encode("gbk")

    # Batches of two: rows were already written when the bad line turns up.
    with pytest.raises(InterchangeError) as refused:
        accounts_import(stream=io.BytesIO(content), fmt="csv", file_name="m.csv", batch_size=2)
    assert "Line 7 is not valid UTF-8" in str(refused.value)
    assert ServiceAccount.objects.count() == 0  # the rows before it were rolled back too

    with pytest.raises(CommandError) as refused:
        run(write(tmp_path, "mixed.csv", content))
    assert refused.value.returncode == 2
    assert "mixes encodings" in str(refused.value)
    assert ServiceAccount.objects.count() == 0
    assert import_audits() == []


def test_the_service_raises_interchange_error_for_an_unreadable_file():
    with pytest.raises(InterchangeError):
        accounts_import(stream=io.BytesIO("x".encode("utf-16")), fmt="csv", file_name="utf16.csv")


# --- Tariffs ------------------------------------------------------------------------------------


def test_an_unknown_tariff_is_imported_and_flagged_until_the_tariff_is_defined():
    out, _err = run(FIXTURES / "accounts.csv")

    assert "1 flagged with an unknown tariff" in out
    flagged = ServiceAccount.objects.get(number="3100030001")
    assert flagged.tariff_code == "HV-10KV-TOU"
    assert flagged.tariff_unknown is True
    assert ServiceAccount.objects.filter(tariff_unknown=True).count() == 1

    Tariff.objects.create(code="HV-10KV-TOU", name="大工业峰谷电价")
    out, _err = run(FIXTURES / "accounts.csv")

    assert "0 created, 1 updated, 3 unchanged, 0 rejected, 0 flagged" in out
    assert ServiceAccount.objects.filter(tariff_unknown=True).count() == 0


# --- Strict mode --------------------------------------------------------------------------------


def test_strict_imports_nothing_on_one_bad_row_and_exits_with_status_4():
    with pytest.raises(CommandError) as refused:
        out, _err = run(FIXTURES / "rejects.csv", "--strict")

    assert refused.value.returncode == ExitStatus.REFUSED
    assert "nothing was imported" in str(refused.value)
    assert ServiceAccount.objects.count() == 0
    assert import_audits() == []


def test_strict_still_lists_every_rejected_row(tmp_path):
    rows = [csv_row(f"31000900{n:02d}") for n in range(2500)]
    rows[5] = csv_row("bad")
    rows[2400] = csv_row("3100090001")  # a duplicate far past the first bad row
    stream = io.BytesIO(csv_file(*rows).encode())
    seen = []

    report = accounts_import(
        stream=stream, fmt="csv", file_name="s.csv", strict=True, on_reject=seen.append
    )

    assert [e.line for e in seen] == [7, 2402]
    assert report.committed is False
    assert (report.rows, report.rejected, report.created, report.updated) == (2500, 2, 0, 0)
    assert ServiceAccount.objects.count() == 0


def test_strict_with_a_clean_file_imports_it():
    out, _err = run(FIXTURES / "accounts.csv", "--strict")

    assert "4 created" in out
    assert ServiceAccount.objects.count() == 4


# --- Audit --------------------------------------------------------------------------------------


def test_each_run_writes_exactly_one_audit_record_with_the_file_hash():
    path = FIXTURES / "rejects.csv"

    run(path, status=ExitStatus.NEEDS_PERSON)
    run(path, status=ExitStatus.NEEDS_PERSON)

    audits = import_audits()
    assert len(audits) == 2
    data = json.loads(audits[0].data)
    assert data["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert data["file"] == str(path)
    assert data["format"] == "csv"
    assert data["strict"] is False
    assert data["client"] is None
    assert data["counts"] == {
        "rows": 11,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 9,
        "flagged": 0,
    }
    assert json.loads(audits[1].data)["counts"]["unchanged"] == 2
    assert audits[0].actor_role == "system"
    # The audit record is the run's last write: nothing after it in the log.
    assert AuditEvent.objects.order_by("-seq").first().pk == audits[1].pk


def test_the_hash_covers_the_whole_file_even_past_the_last_record(tmp_path):
    content = csv_file(csv_row()).encode() + b"\n\n\n"
    run(write(tmp_path, "trailing.csv", content))

    (audit,) = import_audits()
    assert json.loads(audit.data)["sha256"] == hashlib.sha256(content).hexdigest()


# --- Progress -----------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_progress_bar_is_drawn_on_a_terminal_only():
    terminal = Terminal()

    call_command(
        "import_accounts", str(FIXTURES / "accounts.csv"), stdout=io.StringIO(), stderr=terminal
    )

    assert "4 rows" in terminal.getvalue()  # tqdm's "4 rows [00:00, …]"


# --- Batches and memory -------------------------------------------------------------------------


def test_a_file_larger_than_a_batch_is_imported_in_batches(tmp_path, django_assert_max_num_queries):
    rows = [csv_row(f"31001{n:05d}", meter_number=f"M{n:08d}") for n in range(2500)]
    path = write(tmp_path, "big.csv", csv_file(*rows))

    # About four queries per batch of 1,000 rows (read, insert, update, plus the transaction's
    # own), not one per row.
    with django_assert_max_num_queries(40):
        out, _err = run(path)

    assert "2500 rows: 2500 created" in out
    assert ServiceAccount.objects.count() == 2500


# --- Hostile input (issue 20) -------------------------------------------------------------------
HOSTILE_LINES = {
    "a number of 5,000 digits": ('{"account_number": ' + "3" * 5000 + "}", "more than 40 digits"),
    "a lone surrogate": ('{"holder_name": "\\ud800"}', "a lone surrogate"),
    "100,000 nested brackets": ("[" * 100_000 + "]" * 100_000, "nested more than 32 deep"),
    "Infinity": ('{"phone": Infinity}', "Infinity is not a JSON number"),
}


def hostile_body() -> bytes:
    good = (FIXTURES / "accounts.jsonl").read_text().splitlines()[0]
    return ("\n".join([good, *(text for text, _reason in HOSTILE_LINES.values())]) + "\n").encode()


def test_hostile_json_lines_are_rejected_rows_through_the_command(tmp_path):
    path = write(tmp_path, "accounts.jsonl", hostile_body())

    out, err = run(path, status=ExitStatus.NEEDS_PERSON)

    listed = {int(text.split(":")[0][5:]): text for text in out.splitlines() if text[:5] == "line "}
    for line, (_text, reason) in enumerate(HOSTILE_LINES.values(), start=2):
        assert reason in listed[line]
    assert "4 row(s) were rejected" in err
    assert ServiceAccount.objects.count() == 1


def test_hostile_json_lines_under_strict_exit_4_and_store_nothing(tmp_path):
    path = write(tmp_path, "accounts.jsonl", hostile_body())

    run(path, "--strict", status=ExitStatus.REFUSED)

    assert ServiceAccount.objects.count() == 0
    assert import_audits() == []


@pytest.mark.parametrize(("strict", "status"), [("false", 200), ("true", 422)])
def test_hostile_json_lines_through_the_api_are_a_json_report_never_a_500(strict, status):
    _client, token = integration_client_create(
        name="CIS production", scopes=[IntegrationScope.ACCOUNTS_WRITE]
    )

    response = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en").post(
        f"/api/integration/v1/accounts?strict={strict}",
        data=hostile_body(),
        content_type="application/x-ndjson",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert response.status_code == status
    report = response.json()
    assert [error["line"] for error in report["errors"]] == [2, 3, 4, 5]
    for error, (_text, reason) in zip(report["errors"], HOSTILE_LINES.values(), strict=True):
        assert reason in error["reason"]
    assert ServiceAccount.objects.count() == (1 if status == 200 else 0)
