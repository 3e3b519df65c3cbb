"""The recurring jobs as the scheduler runs them (portal/core/schedule.py; docs/deploy.md, "The
scheduler"): each app's task runs the command an operator would run by hand, its summary goes to
the log, its exit status decides whether the task failed, a run that finds the previous one
still going is skipped, and the crontab lines are Beijing time. Reconciliation stands for every
job here because it can end each way (done, needs a person, could not run). Runs on SQLite and
on PostgreSQL; `make prod-local-smoke` runs the same jobs through the scheduler and a real
worker."""

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import crontask
import pytest
from django.core.cache import cache
from django.core.management import CommandError

from payments import gateways
from payments.models import AttemptStatus, BillStatus, LocalIntent
from payments.tasks import reconcile_payments_scheduled
from portal.core.jobs import ExitStatus
from tests.factories import UserFactory
from tests.payments.test_ledger import assert_ledger_balances
from tests.payments.test_reconcile import begun

pytestmark = pytest.mark.django_db

BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def customer():
    return UserFactory()


@pytest.fixture
def job_log(caplog):
    caplog.set_level(logging.INFO, logger="powerhall.jobs")

    def lines(level=logging.INFO):
        return [
            r.getMessage()
            for r in caplog.records
            if r.name == "powerhall.jobs" and r.levelno == level
        ]

    return lines


def test_the_scheduled_reconciliation_credits_a_lost_payment_and_logs_its_summary(
    customer, job_log
):
    attempt, bill = begun(customer)
    gateways.local_outcome(attempt, "succeed")  # its event is lost on the way

    reconcile_payments_scheduled.call()

    attempt.refresh_from_db()
    bill.refresh_from_db()
    assert (attempt.status, bill.status) == (AttemptStatus.SUCCEEDED, BillStatus.PAID)
    assert_ledger_balances()
    assert job_log() == ["job reconcile_payments: Done."]


def test_a_job_that_leaves_work_for_a_person_ends_done_with_a_warning(customer, job_log):
    attempt, _bill = begun(customer)
    gateways.local_outcome(attempt, "succeed")
    LocalIntent.objects.filter(intent_id=attempt.intent_id).update(amount=100)

    reconcile_payments_scheduled.call()  # no exception: the task is done

    [warning] = job_log(logging.WARNING)
    assert warning.startswith("job reconcile_payments: Done; 1 item(s) need a person.")


def test_a_job_that_could_not_run_fails_its_task(customer, job_log, stripe_settings):
    begun(customer)
    stripe_settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # the provider does not answer

    with pytest.raises(CommandError) as failed:
        reconcile_payments_scheduled.call()

    assert failed.value.returncode == ExitStatus.COULD_NOT_RUN
    [error] = job_log(logging.ERROR)
    assert error.startswith("job reconcile_payments ended with status 2: Could not run:")


def test_a_run_that_finds_the_previous_one_still_going_is_skipped(customer, job_log):
    attempt, _bill = begun(customer)
    gateways.local_outcome(attempt, "succeed")
    cache.add("powerhall:job-running:reconcile_payments", "another worker", timeout=60)

    reconcile_payments_scheduled.call()

    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.PENDING  # left to the run that is going
    assert job_log() == ["job reconcile_payments: skipped, the previous run is still going"]

    cache.delete("powerhall:job-running:reconcile_payments")  # that run ended
    reconcile_payments_scheduled.call()

    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED


def test_a_finished_run_leaves_the_next_one_free_to_start(customer, job_log):
    reconcile_payments_scheduled.call()
    reconcile_payments_scheduled.call()

    assert job_log() == ["job reconcile_payments: Done."] * 2


def schedule() -> dict[str, object]:
    """The scheduler's table: each recurring job's name and trigger, as `manage.py crontask`
    loads them from the apps' tasks modules."""
    import applications.tasks  # noqa: F401
    import cms.tasks  # noqa: F401
    import portal.tasks  # noqa: F401

    return {job.name: job.trigger for job in crontask.scheduler.get_jobs()}


def next_run(job: str, after: datetime) -> datetime:
    return schedule()[job].get_next_fire_time(None, after).astimezone(BEIJING)


def test_every_job_of_the_operations_page_is_scheduled():
    assert set(schedule()) >= {
        "reconcile_payments_scheduled",
        "send_bill_reminders_scheduled",
        "watch_deadlines_scheduled",
        "publish_scheduled_scheduled",
        "audit_publish_head_scheduled",
        "audit_verify_scheduled",
        "prune_task_results_scheduled",
        "cleanup_expired_scheduled",
    }


def test_the_reminders_go_out_at_eight_in_the_beijing_morning_whatever_the_servers_zone():
    # 00:31 UTC is 08:31 in Beijing: today's reminders have gone, the next are tomorrow at 8.
    after = datetime(2026, 12, 7, 0, 31, tzinfo=UTC)

    assert next_run("send_bill_reminders_scheduled", after) == datetime(
        2026, 12, 8, 8, 0, tzinfo=BEIJING
    )
    assert next_run("reconcile_payments_scheduled", after) == datetime(
        2026, 12, 7, 8, 45, tzinfo=BEIJING
    )
