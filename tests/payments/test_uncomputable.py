"""Pages and jobs never fail on a bill whose penalty cannot be worked out (issue 20).

Three bills that passed an earlier import (or the admin) and that no penalty rule can price:

- due **9999-12-31**, a billing system's "no date": the day after it does not exist;
- due **1900-01-01**: its first day of arrears is decades before the first rule (1996-10-08);
- due 2026-10-20 after the rules were changed so that none is **in force for its arrears** (the
  only rule starts on 2026-11-01).

Every page that shows such a bill answers 200 with the bill's number and amount and says, in the
customer's language, that the penalty could not be worked out and why; staff get one log line
per bill and reason however often the page is seen; a payment (online or imported) settles the
amount without inventing a penalty. Runs on SQLite and on PostgreSQL.
"""

import csv
import io
import logging
import re
import subprocess
from datetime import date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import translation

from payments import checkout
from payments.bills import bill_owed
from payments.models import (
    AttemptStatus,
    BillStatus,
    EntryKind,
    LedgerEntry,
    PenaltyRule,
    Receipt,
    ReceiptKind,
    Tariff,
    TariffKind,
    TariffVersion,
    TierPeriod,
)
from payments.payment_import import PAYMENT_COLUMNS, payments_import
from payments.penalties import PenaltyUnknown
from payments.reminders import bill_reminders_send
from payments.tariffs import charges_for, tariff_with_versions
from portal.core import clock
from tests.factories import (
    BillFactory,
    BindingFactory,
    MemberScopeFactory,
    ServiceAccountFactory,
    UserFactory,
)
from tests.payments.test_checkout import local_pay

pytestmark = pytest.mark.django_db

D = Decimal
TODAY = date(2026, 12, 1)


@pytest.fixture(autouse=True)
def _december():
    with time_machine.travel(datetime(2026, 12, 1, 10, 0, tzinfo=clock.BUSINESS_TIME_ZONE)):
        yield


def _no_rule_for_october():
    """The 1996 rule replaced by one that starts on 2026-11-01 (as if the older row had been
    deleted): 2026-10-21 … 2026-10-31 have no rule."""
    rule = PenaltyRule.objects.get()
    PenaltyRule.objects.all().delete()
    PenaltyRule.objects.create(
        effective_from=date(2026, 11, 1),
        residential_rate=rule.residential_rate,
        current_year_rate=rule.current_year_rate,
        earlier_year_rate=rule.earlier_year_rate,
        minimum_total=rule.minimum_total,
        source="test: the only rule, from November",
    )


# (id, bill fields, set-up, what the customer reads, what staff read)
FAULTS = [
    pytest.param(
        (
            {"due_date": date(9999, 12, 31)},
            None,
            "its due date, 9999-12-31, is the last day of the calendar",
            "due date 9999-12-31 is the calendar's last day",
        ),
        id="due-9999-12-31",
    ),
    pytest.param(
        (
            {"issue_date": date(1900, 1, 1), "due_date": date(1900, 1, 1)},
            None,
            "no penalty rule covers 1900-01-02",
            "no penalty rule in force on 1900-01-02",
        ),
        id="due-1900-01-01",
    ),
    pytest.param(
        (
            {"due_date": date(2026, 10, 20)},
            _no_rule_for_october,
            "no penalty rule covers 2026-10-21",
            "no penalty rule in force on 2026-10-21",
        ),
        id="no-rule-for-its-arrears",
    ),
]


class Fault:
    def __init__(self, bill, said, logged):
        self.bill, self.said, self.logged = bill, said, logged


@pytest.fixture(params=FAULTS)
def fault(request):
    fields, set_up, said, logged = request.param
    if set_up:
        set_up()
    binding = BindingFactory(label="家", account=ServiceAccountFactory(number="3100000777"))
    bill = BillFactory(number="B-FAULT-1", account=binding.account, amount=D("110.00"), **fields)
    bill.binding = binding
    return Fault(bill, said, logged)


def text_of(response) -> str:
    assert response.status_code == 200
    html = response.content.decode()
    html = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def fault_lines(caplog, bill) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "payments.bills" and bill.number in record.getMessage()
    ]


def twice(client, url, caplog, fault) -> str:
    """The page seen twice, in English: its text; staff were told exactly once."""
    caplog.set_level(logging.ERROR, logger="payments.bills")
    first = text_of(client.get(url, HTTP_ACCEPT_LANGUAGE="en"))
    second = text_of(client.get(url, HTTP_ACCEPT_LANGUAGE="en"))
    assert first == second
    [line] = fault_lines(caplog, fault.bill)
    assert fault.logged in line
    return first


# --- The customer's pages -----------------------------------------------------------------------
def test_the_bill_page_shows_the_bill_and_why_its_penalty_is_missing(client, fault, caplog):
    client.force_login(fault.bill.binding.user)

    text = twice(client, reverse("bills:detail", kwargs={"bill": fault.bill.uuid}), caplog, fault)

    assert "B-FAULT-1" in text
    assert "Amount ¥110.00" in text
    assert f"{fault.bill.due_date:%Y-%m-%d}" in text
    assert "The late-payment penalty could not be worked out for this bill" in text
    assert fault.said in text
    assert "You can still pay the bill amount (¥110.00)." in text
    # Never a penalty of 0 stated as a fact.
    assert "Late-payment penalty could not be worked out (see below)" in text
    assert "Late-payment penalty ¥0.00" not in text
    assert "No penalty" not in text


def test_the_pay_page_offers_the_amount_and_says_why_there_is_no_penalty(client, fault, caplog):
    client.force_login(fault.bill.binding.user)

    text = twice(client, reverse("pay:bills"), caplog, fault)

    assert "B-FAULT-1" in text
    assert "¥110.00" in text
    assert "could not be worked out" in text
    assert fault.said in text
    assert "You can still pay the bill amount" in text


def test_the_bill_lists_show_the_bill_and_say_its_penalty_is_missing(client, fault, caplog):
    client.force_login(fault.bill.binding.user)
    caplog.set_level(logging.ERROR, logger="payments.bills")

    for url in [
        reverse("me:bills"),
        reverse("me:account_bills", kwargs={"binding": fault.bill.binding.uuid}),
    ]:
        text = text_of(client.get(url, HTTP_ACCEPT_LANGUAGE="en"))
        assert "B-FAULT-1" in text
        assert "¥110.00" in text
        assert "penalty could not be worked out" in text
    # The dashboard's card: what is owed, without the penalty that could not be worked out.
    assert "¥110.00" in text_of(client.get(reverse("me:dashboard"), HTTP_ACCEPT_LANGUAGE="en"))

    assert len(fault_lines(caplog, fault.bill)) == 1


def test_the_usage_page_answers(client, fault):
    client.force_login(fault.bill.binding.user)

    response = client.get(reverse("me:usage", kwargs={"binding": fault.bill.binding.uuid}))

    assert response.status_code == 200


# --- An organisation's pages --------------------------------------------------------------------
@pytest.fixture
def org_fault(fault):
    """The same bill on an account an organisation bound, seen by a member who may view it."""
    scope = MemberScopeFactory(
        binding__account=ServiceAccountFactory(number="3100000888", customer_class="lv_business")
    )
    fields = {
        name: getattr(fault.bill, name) for name in ("issue_date", "due_date", "amount", "kwh")
    }
    bill = BillFactory(number="B-FAULT-ORG", account=scope.binding.account, **fields)
    bill.membership = scope.membership
    return Fault(bill, fault.said, fault.logged)


def test_the_organisations_bill_list_and_bill_page_answer(client, org_fault, caplog):
    membership = org_fault.bill.membership
    client.force_login(membership.user)

    org_bills = reverse("org:bills", kwargs={"org": membership.organisation.uuid})
    listed = twice(client, org_bills, caplog, org_fault)
    page = text_of(
        client.get(
            reverse("bills:detail", kwargs={"bill": org_fault.bill.uuid}),
            HTTP_ACCEPT_LANGUAGE="en",
        )
    )

    assert "B-FAULT-ORG" in listed
    assert "penalty could not be worked out" in listed
    assert "Amount ¥110.00" in page
    assert org_fault.said in page
    assert len(fault_lines(caplog, org_fault.bill)) == 1  # the list's line, not one more


def test_the_statements_answer(client, org_fault, tmp_path):
    membership = org_fault.bill.membership
    client.force_login(membership.user)
    org = membership.organisation.uuid

    statement = client.get(
        reverse("org:statement", kwargs={"org": org}), {"from": "2026-09", "to": "2026-09"}
    )
    pdf = client.get(reverse("org:statement_pdf", kwargs={"org": org, "year": 2026, "month": 9}))

    assert statement.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(statement.streaming_content).decode("utf-8-sig"))))
    assert any("B-FAULT-ORG" in row for row in rows)
    assert pdf.status_code == 200
    path = tmp_path / "statement.pdf"
    path.write_bytes(b"".join(pdf.streaming_content))
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "B-FAULT-ORG" in text


# --- Paying such a bill -------------------------------------------------------------------------
def test_paying_online_settles_the_amount_charges_no_penalty_and_issues_a_receipt(
    client, fault, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.ERROR, logger="payments.bills")
    user = fault.bill.binding.user

    attempt = checkout.attempt_create(user=user, bill_uuids=[fault.bill.uuid])
    assert attempt.amount == D("110.00")
    [item] = attempt.items.all()
    assert (item.principal, item.penalty) == (D("110.00"), D("0.00"))
    client.force_login(user)
    pay_url = reverse("pay:attempt", kwargs={"attempt": attempt.uuid})
    before = text_of(client.get(pay_url, HTTP_ACCEPT_LANGUAGE="en"))
    assert "could not be worked out" in before
    with django_capture_on_commit_callbacks(execute=True):
        local_pay(attempt)

    assert attempt.status == AttemptStatus.SUCCEEDED
    fault.bill.refresh_from_db()
    assert (fault.bill.status, fault.bill.principal_paid, fault.bill.penalty_charged) == (
        BillStatus.PAID,
        D("110.00"),
        D("0.00"),
    )
    entry = LedgerEntry.objects.get(kind=EntryKind.PAYMENT, reference=attempt.reference)
    assert entry.memo.startswith("penalty not charged: ")
    assert fault.logged in entry.memo
    assert not LedgerEntry.objects.filter(kind=EntryKind.PENALTY_CHARGED).exists()
    assert len(fault_lines(caplog, fault.bill)) == 1
    # The receipt and the paid bill's page.
    receipt = Receipt.objects.get(attempt=attempt, kind=ReceiptKind.PAYMENT)
    pdf = client.get(reverse("receipts:pdf", kwargs={"number": receipt.number}))
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    page = text_of(
        client.get(
            reverse("bills:detail", kwargs={"bill": fault.bill.uuid}), HTTP_ACCEPT_LANGUAGE="en"
        )
    )
    assert "No late-payment penalty was charged when the amount was paid" in page


def test_an_imported_payment_of_such_a_bill_is_posted(fault, caplog):
    caplog.set_level(logging.ERROR, logger="payments.bills")
    record = {
        "payment_reference": "CIS-PAY-FAULT-1",
        "bill_number": "B-FAULT-1",
        "amount": "120.00",
        "paid_at": "2026-11-30T09:30:00+08:00",
        "channel": "counter",
    }
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(
        [PAYMENT_COLUMNS, [record[column] for column in PAYMENT_COLUMNS]]
    )

    with translation.override("en"):
        report = payments_import(
            stream=io.BytesIO(out.getvalue().encode()), fmt="csv", file_name="payments.csv"
        )

    assert (report.counts["created"], report.counts["rejected"]) == (1, 0)
    fault.bill.refresh_from_db()
    assert fault.bill.status == BillStatus.PAID
    assert fault.bill.penalty_charged == D("0.00")
    # What was paid beyond the amount is the customer's credit, not a guessed penalty.
    entry = LedgerEntry.objects.get(reference="CIS-PAY-FAULT-1")
    assert "penalty not charged" in entry.memo
    assert sorted(line.book for line in entry.lines.all()) == [
        "cash",
        "customer_credit",
        "receivable",
    ]
    assert len(fault_lines(caplog, fault.bill)) == 1


def test_the_reminders_say_the_penalty_could_not_be_worked_out(
    fault, django_capture_on_commit_callbacks
):
    fault.bill.binding.user.language = "en"
    fault.bill.binding.user.save()

    with django_capture_on_commit_callbacks(execute=True):
        report = bill_reminders_send()

    overdue = fault.bill.due_date < TODAY
    assert report.overdue_bills == (1 if overdue else 0)
    if overdue:
        texts = [message.body for message in mail.outbox if "B-FAULT-1" in message.subject]
        assert texts
        assert "could not be worked out" in texts[0]
        assert "¥0.00" not in texts[0]


def test_what_is_owed_keeps_decimal_money_and_names_the_fault(fault):
    owed = bill_owed(bill=fault.bill, as_of=TODAY)

    assert isinstance(owed.penalty_unknown, PenaltyUnknown)
    assert owed.penalty.spans == ()
    assert (owed.principal, owed.penalty_due, owed.total) == (D("110.00"), D("0.00"), D("110.00"))
    assert all(isinstance(v, Decimal) for v in (owed.principal, owed.penalty_due, owed.total))


# --- No prices in force -------------------------------------------------------------------------
@pytest.fixture
def unpriced():
    """A tiered tariff whose only version starts in 2027: no price for 2026."""
    tariff = Tariff.objects.create(
        code="RES-LATE", name="居民阶梯（2027 起）", kind=TariffKind.TIERED
    )
    TariffVersion.objects.create(
        tariff=tariff,
        effective_from=date(2027, 1, 1),
        unit_price=D("0.4883"),
        tier_period=TierPeriod.MONTHLY,
        tier1_limit_kwh=D("180"),
        tier2_limit_kwh=D("280"),
    )
    binding = BindingFactory(account=ServiceAccountFactory(tariff_code="RES-LATE"))
    bill = BillFactory(number="B-UNPRICED", account=binding.account, amount=D("98.00"))
    bill.binding = binding
    return bill


def test_a_bill_without_prices_in_force_says_so_and_staff_are_told_once(client, unpriced, caplog):
    caplog.set_level(logging.ERROR, logger="payments.bills")
    client.force_login(unpriced.binding.user)
    url = reverse("bills:detail", kwargs={"bill": unpriced.uuid})

    texts = [text_of(client.get(url, HTTP_ACCEPT_LANGUAGE="en")) for _ in range(2)]

    assert "A breakdown of this bill is not available." in texts[0]
    assert "Our tariff data has no prices in force on 2026-09-01" in texts[0]
    assert "The billing system's amount, ¥98.00, stands." in texts[0]
    lines = [r.getMessage() for r in caplog.records if "RES-LATE" in r.getMessage()]
    assert lines == ["tariff RES-LATE has no version in force on 2026-09-01: bill B-UNPRICED cannot"
                     " be explained"]  # fmt: skip


def test_the_usage_page_says_the_tier_could_not_be_worked_out(client, unpriced, caplog):
    caplog.set_level(logging.ERROR, logger="payments.bills")
    client.force_login(unpriced.binding.user)
    url = reverse("me:usage", kwargs={"binding": unpriced.binding.uuid})

    texts = [text_of(client.get(url, HTTP_ACCEPT_LANGUAGE="en")) for _ in range(2)]

    assert "Where you stand on the price tiers could not be worked out" in texts[0]
    assert "no complete prices in force on 2026-12-01" in texts[0]
    assert len([r for r in caplog.records if "RES-LATE" in r.getMessage()]) == 1


def test_a_chinese_speaker_reads_the_explanation_in_chinese(client, fault):
    """The message goes through the translation catalogue (the lead regenerates it): in
    Chinese the page still answers and names the date."""
    client.force_login(fault.bill.binding.user)

    response = client.get(
        reverse("bills:detail", kwargs={"bill": fault.bill.uuid}), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )

    assert response.status_code == 200
    assert "B-FAULT-1" in response.content.decode()


def test_someone_else_still_gets_not_found(client, fault):
    client.force_login(UserFactory())

    response = client.get(reverse("bills:detail", kwargs={"bill": fault.bill.uuid}))

    assert response.status_code == 404


# --- Tariff arithmetic at the calendar's edges --------------------------------------------------
def yearly_since_year_1(code="RES-TIER-Y1"):
    tariff = Tariff.objects.create(code=code, name=code, kind=TariffKind.TIERED)
    TariffVersion.objects.create(
        tariff=tariff,
        effective_from=date.min,
        unit_price=D("0.5000"),
        tier_period=TierPeriod.YEARLY,
        tier1_limit_kwh=D("2760"),
        tier2_limit_kwh=D("4800"),
    )
    return tariff_with_versions(code)


def test_a_period_ending_on_the_calendars_last_day_is_priced():
    tariff = yearly_since_year_1()

    lines = charges_for(
        versions=list(tariff.versions.all()),
        period_start=date(9999, 12, 1),
        period_end=date.max,
        kwh=D("100"),
    )

    assert [(line.tier, line.kwh, line.amount) for line in lines] == [(1, D("100.00"), D("50.00"))]


def test_a_bill_of_january_of_year_1_is_explained(client):
    yearly_since_year_1()
    binding = BindingFactory(account=ServiceAccountFactory(tariff_code="RES-TIER-Y1"))
    bill = BillFactory(
        number="B-YEAR-1",
        account=binding.account,
        period_start=date(1, 1, 1),
        period_end=date(1, 1, 31),
        issue_date=date(1, 2, 1),
        due_date=date(1, 2, 20),
        kwh=D("100"),
        amount=D("50.00"),
    )
    client.force_login(binding.user)

    text = text_of(
        client.get(reverse("bills:detail", kwargs={"bill": bill.uuid}), HTTP_ACCEPT_LANGUAGE="en")
    )
    usage = client.get(reverse("me:usage", kwargs={"binding": binding.uuid}))

    assert "we worked these lines out from the tariff" in text
    assert "no penalty rule covers 0001-02-21" in text
    assert usage.status_code == 200


def test_a_placeholder_period_does_not_push_the_real_months_off_the_usage_chart(client):
    binding = BindingFactory(account=ServiceAccountFactory())
    BillFactory(account=binding.account, kwh=D("321.00"))  # September 2026
    BillFactory(
        account=binding.account,
        period_start=date(9999, 12, 1),
        period_end=date.max,
        issue_date=date(2026, 11, 5),
        due_date=date.max,
        kwh=D("5.00"),
    )
    client.force_login(binding.user)

    page = client.get(reverse("me:usage", kwargs={"binding": binding.uuid}))

    usage = page.context["p"].usage
    assert usage.months[-1].month == date(2026, 12, 1)
    assert usage.total_kwh == D("321.00")
