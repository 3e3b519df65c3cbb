"""Notices about bills: due soon and overdue reminders (``manage.py send_bill_reminders``), a new
bill from the bill import, and who hears about an organisation's bills (payments/reminders.py).

One bill that cannot be reminded is skipped and kept for a person; the others are reminded.
Runs on SQLite and on PostgreSQL.
"""

import io
from datetime import date, datetime, time, timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import translation
from django_tasks_db.models import DBTaskResult

from payments.bills import bill_owed
from payments.reminders import ISSUED_NOTICE_DAYS, account_recipients, bill_reminders_send
from payments.templatetags.bill_format import yuan
from portal.core import clock
from portal.core.jobs import ExitStatus
from portal.models import JobProblem, Notification, NotificationKind
from tests.factories import (
    BillFactory,
    BindingFactory,
    MemberScopeFactory,
    MembershipFactory,
    OrgBindingFactory,
    ServiceAccountFactory,
    UserFactory,
    pay,
)
from tests.payments.test_bill_import import csv_file, csv_row, import_bytes
from tests.poison import MESSAGE, refuse_inserts

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """The command's report in English, whatever language an earlier test left active."""
    with translation.override("en"):
        yield


@pytest.fixture
def customer():
    return UserFactory(language="en")


def reminders(capture) -> str:
    """Run the daily command as cron would; the notices' tasks run as after a real commit."""
    out = io.StringIO()
    with capture(execute=True):
        call_command("send_bill_reminders", stdout=out)
    return out.getvalue()


def timezone_noon(day):
    return datetime.combine(day, time(12), tzinfo=clock.BUSINESS_TIME_ZONE)


def sent(mailoutbox, kind_subject: str) -> list:
    return [m for m in mailoutbox if kind_subject in m.subject]


# --- Due soon and overdue -------------------------------------------------------------------------
def test_reminders_go_once_for_a_bill_due_soon_and_once_a_week_for_an_overdue_one(
    customer, mailoutbox, django_capture_on_commit_callbacks
):
    account = BindingFactory(user=customer, label="Home").account
    today = clock.today()
    due_soon = BillFactory(
        account=account, issue_date=today - timedelta(10), due_date=today + timedelta(2)
    )
    overdue = BillFactory(
        account=account, issue_date=today - timedelta(40), due_date=today - timedelta(10)
    )
    BillFactory(account=account, issue_date=today, due_date=today + timedelta(15))  # not yet
    paid = BillFactory(
        account=account, issue_date=today - timedelta(40), due_date=today - timedelta(9)
    )
    pay(paid, paid.amount, today - timedelta(12))

    output = reminders(django_capture_on_commit_callbacks)

    assert "Due soon: 1 bills, 1 new notifications" in output
    assert "Overdue: 1 bills, 1 new notifications" in output
    [soon] = sent(mailoutbox, f"Bill {due_soon.number} is due on")
    assert soon.to == [customer.email]
    assert f"{due_soon.due_date:%Y-%m-%d}" in soon.body
    assert "(Home)" in soon.body
    owed = bill_owed(bill=overdue, as_of=today)
    assert owed.penalty_due > 0
    [late] = sent(mailoutbox, f"Bill {overdue.number} is overdue: {yuan(owed.total)} to pay today")
    assert "is 10 days overdue" in late.body
    assert f"Penalty up to {today:%Y-%m-%d}: {yuan(owed.penalty_due)}" in late.body
    assert len(mailoutbox) == 2

    # The same day again, and the rest of the week: nothing new.
    reminders(django_capture_on_commit_callbacks)
    with time_machine.travel(timezone_noon(today + timedelta(1))):
        bill_reminders_send()
    assert len(mailoutbox) == 2

    # A week after the first reminder the overdue bill is reminded again, with the penalty of
    # that day; the bill that was due soon is overdue now.
    later = today + timedelta(7)
    with time_machine.travel(timezone_noon(later)):
        output = reminders(django_capture_on_commit_callbacks)
    assert "Overdue: 2 bills, 2 new notifications" in output
    owed = bill_owed(bill=overdue, as_of=later)
    assert sent(mailoutbox, f"Bill {overdue.number} is overdue: {yuan(owed.total)} to pay today")
    assert sent(mailoutbox, f"Bill {due_soon.number} is overdue")
    assert len(mailoutbox) == 4


def test_at_a_months_last_minute_the_reminder_counts_beijing_days(
    customer, mailoutbox, django_capture_on_commit_callbacks
):
    account = BindingFactory(user=customer, label="Home").account
    # Due on Wednesday 3 February: three days ahead of 31 January in Beijing, four of 30 January.
    bill = BillFactory(account=account, issue_date=date(2027, 1, 5), due_date=date(2027, 2, 3))

    # 23:59 on 30 January in Beijing: not yet "due soon".
    with time_machine.travel(datetime(2027, 1, 30, 23, 59, tzinfo=clock.BUSINESS_TIME_ZONE)):
        assert "Due soon: 0 bills" in reminders(django_capture_on_commit_callbacks)
    # 00:30 on 31 January in Beijing, still 30 January in UTC: due in three days.
    with time_machine.travel(datetime(2027, 1, 31, 0, 30, tzinfo=clock.BUSINESS_TIME_ZONE)):
        assert "Due soon: 1 bills, 1 new notifications" in reminders(
            django_capture_on_commit_callbacks
        )
    # The next run, past midnight into February: nothing new about the same bill.
    with time_machine.travel(datetime(2027, 2, 1, 0, 5, tzinfo=clock.BUSINESS_TIME_ZONE)):
        assert "Due soon: 1 bills, 0 new notifications" in reminders(
            django_capture_on_commit_callbacks
        )
    assert [m.subject for m in mailoutbox] == [
        m.subject for m in mailoutbox if f"Bill {bill.number} is due on" in m.subject
    ]
    assert len(mailoutbox) == 1


def test_an_organisations_bill_reaches_its_administrators_and_members_who_pay(
    mailoutbox, django_capture_on_commit_callbacks
):
    admin = MembershipFactory(role="admin")
    organisation = admin.organisation
    binding = OrgBindingFactory(organisation=organisation, label="")
    payer = MemberScopeFactory(
        membership=MembershipFactory(organisation=organisation), binding=binding, can_pay=True
    ).membership.user
    viewer = MemberScopeFactory(
        membership=MembershipFactory(organisation=organisation), binding=binding
    ).membership.user
    gone = MembershipFactory(organisation=organisation, role="admin", user__is_active=False).user
    UserFactory()  # anybody else
    today = clock.today()
    BillFactory(account=binding.account, issue_date=today, due_date=today + timedelta(1))

    reminders(django_capture_on_commit_callbacks)

    assert sorted(m.to[0] for m in mailoutbox) == sorted([admin.user.email, payer.email])
    assert all(organisation.name in m.body for m in mailoutbox)  # the account's name for them
    assert viewer.email not in {m.to[0] for m in mailoutbox}
    assert gone.email not in {m.to[0] for m in mailoutbox}


def test_a_household_with_two_people_bound_tells_each_once(
    mailoutbox, django_capture_on_commit_callbacks
):
    first = BindingFactory()
    second = BindingFactory(account=first.account)
    # The second person also administers an organisation that bound the same account.
    membership = MembershipFactory(user=second.user, role="admin")
    OrgBindingFactory(organisation=membership.organisation, account=first.account)
    today = clock.today()
    BillFactory(account=first.account, issue_date=today, due_date=today + timedelta(3))

    reminders(django_capture_on_commit_callbacks)

    assert sorted(m.to[0] for m in mailoutbox) == sorted([first.user.email, second.user.email])


@pytest.mark.parametrize("accounts", [2, 12])
def test_a_reminder_run_costs_the_same_queries_for_few_or_many_bills(
    accounts, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    today = clock.today()
    for _n in range(accounts):
        binding = BindingFactory()
        BillFactory(account=binding.account, issue_date=today, due_date=today + timedelta(1))
        BillFactory(
            account=binding.account, issue_date=today - timedelta(40), due_date=today - timedelta(5)
        )

    # Per kind: the bills, what they owe (payments, penalty rules), the bindings, the
    # preferences, the notifications already recorded, the insert and reading it back; then
    # the next (empty) page and the requeue, each page and the requeue in a savepoint (one bad
    # bill never stops the run). Nothing per bill, and the sending is one task.
    with django_assert_max_num_queries(29), django_capture_on_commit_callbacks(execute=False):
        report = bill_reminders_send()

    assert (report.due_soon_sent, report.overdue_sent) == (accounts, accounts)


def test_a_bill_whose_reminder_cannot_be_stored_is_skipped_and_the_others_are_reminded(
    customer, mailoutbox, django_capture_on_commit_callbacks
):
    """One overdue bill's notification is refused by the database (a trigger stands in for a
    corrupt row): it used to stop the whole run before any reminder of its chunk was recorded."""
    account = BindingFactory(user=customer, label="Home").account
    today = clock.today()
    soon = BillFactory(
        account=account, issue_date=today - timedelta(10), due_date=today + timedelta(2)
    )
    late = BillFactory(
        account=account, issue_date=today - timedelta(40), due_date=today - timedelta(10)
    )
    poisoned = BillFactory(
        account=account, issue_date=today - timedelta(45), due_date=today - timedelta(15)
    )
    refuse_inserts(Notification, column="idempotency_key", containing=str(poisoned.uuid))

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(CommandError) as ended:
        call_command("send_bill_reminders", stdout=out)
    output = out.getvalue()

    assert ended.value.returncode == ExitStatus.NEEDS_PERSON == 3
    assert str(ended.value).startswith("Done with 1 skipped.")
    assert "Due soon: 1 bills, 1 new notifications" in output
    assert "Overdue: 2 bills, 1 new notifications" in output
    assert f"overdue: payments.bill:{poisoned.pk}: " in output
    assert sent(mailoutbox, f"Bill {soon.number} is due on")
    assert sent(mailoutbox, f"Bill {late.number} is overdue")
    assert len(mailoutbox) == 2
    problem = JobProblem.objects.get()
    assert (problem.job, problem.step, problem.row, problem.count) == (
        "send_bill_reminders",
        "overdue",
        f"payments.bill:{poisoned.pk}",
        1,
    )
    assert MESSAGE in problem.error

    # Tomorrow's run: nothing new for the good bills, the bad one counted again, still one record.
    with time_machine.travel(timezone_noon(today + timedelta(1))):
        report = bill_reminders_send()
    assert (report.due_soon_sent, report.overdue_sent) == (0, 0)
    assert len(report.run.skipped) == 1
    assert JobProblem.objects.get().count == 2
    assert len(mailoutbox) == 2


# --- A new bill -----------------------------------------------------------------------------------
ACCOUNT = "3100050001"  # the account test_bill_import's rows are written for


@pytest.fixture
def bound(customer):
    return BindingFactory(user=customer, account=ServiceAccountFactory(number=ACCOUNT))


def test_a_newly_issued_bill_is_announced_once_and_an_old_one_never(
    bound, customer, mailoutbox, django_capture_on_commit_callbacks
):
    today = clock.today()
    recent = csv_row(
        "B-NEW",
        issue_date=f"{today - timedelta(2):%Y-%m-%d}",
        due_date=f"{today + timedelta(13):%Y-%m-%d}",
    )
    # History: the demo loads two years of bills, and an import may backfill more.
    history = csv_row(
        "B-OLD",
        period_start="2024-10-01",
        period_end="2024-10-31",
        issue_date="2024-11-05",
        due_date="2024-11-20",
    )
    # Issued a day before the window: not news any more.
    late = csv_row(
        "B-LATE",
        period_start="2026-09-01",
        period_end="2026-09-30",
        issue_date=f"{today - timedelta(ISSUED_NOTICE_DAYS + 1):%Y-%m-%d}",
        due_date=f"{today + timedelta(7):%Y-%m-%d}",
    )

    with django_capture_on_commit_callbacks(execute=True):
        report = import_bytes(csv_file(recent, history, late))
    assert report.created == 3

    [message] = mailoutbox
    assert message.to == [customer.email]
    assert message.subject == "Your electricity bill for 2026-10: ¥128.46"
    assert "B-NEW" in message.body and "B-OLD" not in message.body
    assert Notification.objects.get().kind == NotificationKind.BILL_ISSUED

    # The same file again changes nothing, and tells nobody anything.
    with django_capture_on_commit_callbacks(execute=True):
        import_bytes(csv_file(recent, history, late))
    assert len(mailoutbox) == 1


def test_a_bill_import_sends_its_notices_with_one_task_per_batch(
    settings, django_capture_on_commit_callbacks
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    today = clock.today()
    rows = []
    for n in range(5):
        account = BindingFactory().account
        rows.append(
            csv_row(
                f"B-{n}",
                account_number=account.number,
                issue_date=f"{today:%Y-%m-%d}",
                due_date=f"{today + timedelta(15):%Y-%m-%d}",
            )
        )

    with django_capture_on_commit_callbacks(execute=True):
        import_bytes(csv_file(*rows), batch_size=3)

    tasks = DBTaskResult.objects.filter(task_path="portal.tasks.notifications_deliver")
    assert sorted(len(t.args_kwargs["kwargs"]["notifications"]) for t in tasks) == [2, 3]
    assert Notification.objects.filter(kind=NotificationKind.BILL_ISSUED).count() == 5


def test_recipients_of_accounts_nobody_bound_cost_one_query(django_assert_num_queries):
    accounts = [ServiceAccountFactory().pk for _n in range(3)]
    with django_assert_num_queries(1):
        assert account_recipients(account_ids=accounts) == {}
