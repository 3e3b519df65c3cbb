"""The demo's bills and payments (payments/demo.py, run at the end of `manage.py seed_demo`)."""

import io
import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum

from payments.bills import bill_owed
from payments.demo import LATE_BILLS_AGO, OVERDUE_BILLS_AGO, _periods
from payments.models import Bill, BillStatus, LedgerLine, OutsidePayment
from portal.core import clock
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_seed_demo_gives_every_demo_account_two_years_of_bills_once():
    call_command("seed_demo", stdout=io.StringIO())
    today = clock.today()

    home = Bill.objects.filter(account__number="3100000001").order_by("period_start")
    assert home.count() == 24
    assert all(150 <= bill.kwh <= 450 for bill in home)
    latest = home.last()
    assert latest.issue_date <= today < latest.due_date
    assert latest.status == BillStatus.OPEN
    # The home account has an overdue bill, so its arrears timeline has something to show.
    overdue = home.filter(status=BillStatus.OPEN, due_date__lt=today).get()
    assert bill_owed(bill=overdue, as_of=today).penalty_due > 0
    # A business account paid one bill late, with its penalty.
    late = Bill.objects.get(penalty_charged__gt=0)
    assert late.account.customer_class == "lv_business"
    assert late.status == BillStatus.PAID
    assert late.penalty_paid == late.penalty_charged
    # Every account's bills but the latest (two for the home account) are paid.
    accounts = Bill.objects.values("account").distinct().count()
    assert Bill.objects.filter(status=BillStatus.OPEN).count() == accounts + 1
    for bill in Bill.objects.prefetch_related("lines"):
        if lines := list(bill.lines.all()):
            assert sum(line.amount for line in lines) == bill.amount
    total = LedgerLine.objects.aggregate(total=Sum("amount"))["total"]
    assert Decimal(total).quantize(Decimal("0.01")) == 0

    before = (
        Bill.objects.count(),
        OutsidePayment.objects.count(),
        LedgerLine.objects.count(),
        AuditEvent.objects.count(),
    )
    call_command("seed_demo", stdout=io.StringIO())

    assert (
        Bill.objects.count(),
        OutsidePayment.objects.count(),
        LedgerLine.objects.count(),
        AuditEvent.objects.count(),
    ) == before


@pytest.mark.parametrize(
    "today",
    [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3), date(2026, 12, 31), date(2027, 1, 1)],
)
def test_on_any_day_the_latest_demo_bill_is_issued_and_not_yet_due(today):
    periods = _periods(today)

    start, end, issue, due = periods[-1]
    assert issue <= today < due
    assert end < issue
    assert all(a[1] + timedelta(days=1) == b[0] for a, b in itertools.pairwise(periods))
    # The home account's unpaid bill is overdue; the late payment is in the past.
    assert periods[-1 - OVERDUE_BILLS_AGO][3] < today
    assert periods[-1 - LATE_BILLS_AGO][3] + timedelta(days=12) < today
    assert len(periods) == 24
