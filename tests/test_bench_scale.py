"""The scale benchmark's building blocks (benchmarks/scale.py, `make bench-scale`): the database
grows in steps, so each generator writes the rows after the ones already imported, and the staff
queue's cases grow with the accounts instead of being built once."""

import csv
import xml.etree.ElementTree as ET

import pytest

from applications.models import OPEN_STATUSES, Case
from benchmarks import application_queue
from benchmarks.import_accounts import generate as generate_accounts
from benchmarks.import_bills import generate as generate_bills
from benchmarks.scale import PAGES, svg, table


def test_a_step_generates_only_the_accounts_and_bills_after_the_last_step(tmp_path):
    accounts, bills = tmp_path / "accounts.csv", tmp_path / "bills.csv"
    generate_accounts(accounts, 5, start=3)
    generate_bills(bills, 5 * 12, fmt="csv", start=3 * 12)

    with accounts.open(encoding="utf-8") as f:
        assert [row["account_number"] for row in csv.DictReader(f)] == ["3100000003", "3100000004"]
    with bills.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 24
    assert {row["account_number"] for row in rows} == {"3100000003", "3100000004"}
    assert len({row["bill_number"] for row in rows}) == 24


# VACUUM (PostgreSQL) cannot run inside the test's transaction.
@pytest.mark.django_db(transaction=True)
def test_the_queue_grows_by_the_open_cases_of_each_step():
    first = application_queue.build(open_cases=12, seed=1)
    assert first["built"]
    assert application_queue.build(open_cases=12, seed=1) == {"built": False, "build_s": 0.0}

    grown = application_queue.build(open_cases=8, seed=2, grow=True)

    assert grown["built"]
    assert Case.objects.filter(status__in=OPEN_STATUSES).count() == 20
    assert Case.objects.count() == 12 + 4 + 8 + 2  # a third as many closed ones each time
    assert application_queue.session_and_pages()["open_cases"] == 20


def test_the_plot_and_the_table_show_every_page_at_every_size():
    def measured(ms, bare):
        return {
            "pages": {
                page: {"p50_ms": ms, "p95_ms": ms * 1.5, "queries": 7, "bare_p50_ms": bare}
                for page in PAGES
            },
            "bare": {"p50_ms": 2.0, "p95_ms": 3.0},
            "load_1min": [1.0, 1.2],
            "counts": {"bills": 12_000, "open_cases": 100},
            "database_mib": 40,
        }

    report = {"sizes": {"1000": measured(20.0, 2.0), "100000": measured(24.0, 3.0)}}

    plot = ET.fromstring(svg(report))  # noqa: S314 - our own output
    namespace = "{http://www.w3.org/2000/svg}"
    assert len(plot.findall(f"{namespace}polyline")) == len(PAGES)
    # p95 grew by a fifth, the bare view by half: the page grew less than the machine's load.
    assert "| ×1.20 | ×0.80 |" in table(report)
