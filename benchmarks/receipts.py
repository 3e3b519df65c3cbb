"""Receipt PDFs: median render time and size, in-process (issue #6: goal ≤ 100 ms, ≤ 60 KB).

    .venv/bin/python benchmarks/receipts.py               # 30 renders of each document
    .venv/bin/python benchmarks/receipts.py --renders 50

Renders three documents with ``payments.receipt_pdf.receipt_document``, the function the
background task runs (WeasyPrint, the Chinese font, the QR code): a household's receipt (one
account, one bill with a penalty), a business's receipt (ten accounts, a bill each) and a
refund note. Their snapshots are made by the same code that issues receipts, from unsaved model
instances, so no database is needed. After one warm-up render each (fonts loaded, templates
compiled, as in a worker that has rendered before), every render is timed on its own. Reported
per document: the median and 90th percentile wall-clock times, the median CPU time of the
rendering process (what a render costs when other work takes cores from it: the gap to the
wall-clock median shows how loaded the machine was) and the PDF's size. ``problems`` lists a
PDF that embeds no CJK font (checked with ``pdffonts`` when poppler-utils is installed): its
Chinese would show as empty boxes. The goals are reported, not enforced, since the machine's
load moves the times. Merged into benchmarks/results/latest.json under "receipts" (``make
bench`` runs it too).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks/results/latest.json"
GOAL_MS = 100
GOAL_KB = 60
CJK_FONTS = ("WenQuanYi", "WQY", "NotoSansCJK", "NotoSerifCJK")


def _snapshots() -> dict[str, dict]:
    """The three documents' snapshots, from unsaved rows shaped as a payment leaves them."""
    from payments.models import AttemptBill, Bill, PaymentAttempt, Refund
    from payments.receipts import receipt_snapshot, refund_note_snapshot
    from payments.refunds import Reversal
    from portal.core import clock
    from portal.models import Organisation, ServiceAccount, User

    paid_at = datetime(2026, 11, 27, 10, 15, 2, tzinfo=clock.BUSINESS_TIME_ZONE)
    token = "bench-token-0123456789abcdefghijkl"  # noqa: S105 - a made-up link token

    def payment(accounts: int, organisation=None):
        attempt = PaymentAttempt(
            created_by=User(name="张三", email="payer@bench.example.cn"),
            organisation=organisation,
            currency="cny",
            business_date=paid_at.date(),
            gateway="stripe",
            payment_method="card",
            intent_id="pi_3QbenchReceipt0123456789",
            paid_at=paid_at,
        )
        bills, items = {}, []
        for n in range(accounts):
            account = ServiceAccount(number=f"{3100000001 + n}", holder_name=f"户主{n}示例")
            bill = Bill(
                pk=n + 1,
                number=f"B2026{n:06d}",
                account=account,
                period_start=date(2026, 9, 1),
                period_end=date(2026, 9, 30),
            )
            bills[bill.pk] = bill
            items.append(
                AttemptBill(bill=bill, principal=Decimal("1234.56") + n, penalty=Decimal("45.67"))
            )
        attempt.amount = sum((item.total for item in items), Decimal("0.00"))
        return attempt, items, bills

    household, household_items, household_bills = payment(1)
    business = Organisation(pk=1, name="示例制造有限公司", uscc="91110105MA01ABCD6J")
    company, company_items, company_bills = payment(10, organisation=business)
    refund = Refund(
        amount=Decimal("100.50"), provider_refund_id="re_3QbenchRefund0123", completed_at=paid_at
    )
    reversal = Reversal(household_bills[1], penalty=Decimal("45.67"), principal=Decimal("54.83"))
    return {
        "household_receipt": receipt_snapshot(
            attempt=household,
            items=household_items,
            bills=household_bills,
            number="2026-00000123",
            token=token,
        ),
        "business_receipt_10_accounts": receipt_snapshot(
            attempt=company,
            items=company_items,
            bills=company_bills,
            number="2026-00000124",
            token=token,
        ),
        "refund_note": refund_note_snapshot(
            refund=refund,
            attempt=household,
            reversals=[reversal],
            number="2026-00000125",
            token=token,
            receipt_number="2026-00000123",
            on_date=paid_at.date(),
        ),
    }


def _cjk_embedded(pdf: bytes) -> bool | None:
    """Whether ``pdffonts`` lists an embedded CJK font (None: poppler-utils not installed)."""
    if shutil.which("pdffonts") is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(pdf)
        file.flush()
        rows = subprocess.run(
            ["pdffonts", file.name], check=True, capture_output=True, text=True
        ).stdout.splitlines()[2:]
    return any(" yes " in row and any(name in row for name in CJK_FONTS) for row in rows)


def bench(*, renders: int = 30) -> dict:
    """Render each document ``renders`` times; return the entry for the results file."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from payments.receipt_pdf import receipt_document

    documents, problems = {}, []
    for name, snapshot in _snapshots().items():
        pdf = receipt_document(snapshot)  # warm-up
        times, cpu = [], []
        for _ in range(renders):
            start, start_cpu = time.perf_counter(), time.process_time()
            pdf = receipt_document(snapshot)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
        median = statistics.median(times)
        size_kb = len(pdf) / 1024
        documents[name] = {
            "median_ms": round(median, 1),
            "p90_ms": round(statistics.quantiles(times, n=10)[-1], 1),
            "median_cpu_ms": round(statistics.median(cpu), 1),
            "size_kb": round(size_kb, 1),
            "within_goal": median <= GOAL_MS and size_kb <= GOAL_KB,
        }
        if _cjk_embedded(pdf) is False:
            problems.append(f"{name}: no embedded CJK font (Chinese would not show)")
    return {
        "renders": renders,
        "goal": f"median ≤ {GOAL_MS} ms, ≤ {GOAL_KB} KB",
        "documents": documents,
        "problems": problems,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=30, help="timed renders per document")
    args = parser.parse_args()
    result = bench(renders=args.renders)
    report = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    report["receipts"] = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **result}
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(report["receipts"], indent=2, ensure_ascii=False))
    if result["problems"]:
        raise SystemExit("receipt benchmark: " + "; ".join(result["problems"]))


if __name__ == "__main__":
    main()
