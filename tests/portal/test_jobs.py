"""Working through rows so that one bad row never stops the rest (portal/core/jobs.py;
docs/operations.md): the row's work undone, the problem kept once for a person, the run going on
and ending with a summary and an exit status. Runs on SQLite and on PostgreSQL.
"""

import pytest
from django.core.management import CommandError
from django.db import IntegrityError, transaction
from django.utils import translation

from portal.core.jobs import CannotGoOn, ExitStatus, JobRun, command_finish, job_problem_record
from portal.models import CalendarDay, JobProblem
from tests.factories import StaffUserFactory, totp_enrol

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def days_run(days, *, poison):
    """A job that records a calendar day per row, and fails on ``poison`` after writing it."""
    run = JobRun("test_days")
    with run.step("days"):
        for number in days:
            with run.row(f"day {number}"):
                CalendarDay.objects.create(day=f"2027-01-{number:02d}", working=False)
                if number == poison:
                    raise ValueError(f"day {number} is poisoned")
    return run


def test_a_failing_row_is_undone_recorded_once_and_the_rest_is_done():
    run = days_run([1, 2, 3], poison=2)

    assert sorted(str(day.day) for day in CalendarDay.objects.all()) == [
        "2027-01-01",
        "2027-01-03",
    ]  # the poisoned row's own write went with it
    assert run.done == 2
    assert run.skipped_lines() == ["days: day 2: ValueError: day 2 is poisoned"]
    problem = JobProblem.objects.get()  # kept, though its row was rolled back
    assert (problem.job, problem.step, problem.row, problem.count) == (
        "test_days",
        "days",
        "day 2",
        1,
    )
    assert problem.error == "ValueError: day 2 is poisoned"
    assert "raise ValueError" in problem.traceback
    assert run.exit_status() == ExitStatus.NEEDS_PERSON
    assert run.summary().startswith("Done with 1 skipped.")


def test_a_row_failing_every_night_is_one_record_counted():
    days_run([4, 5], poison=5)
    CalendarDay.objects.all().delete()
    first = JobProblem.objects.get()

    days_run([4, 5], poison=5)

    again = JobProblem.objects.get()
    assert again.count == 2
    assert again.first_seen == first.first_seen
    assert again.last_seen >= first.last_seen


def test_a_database_error_in_a_row_leaves_the_callers_transaction_usable():
    """On PostgreSQL a failed statement breaks its transaction: the row's savepoint keeps it to
    the row."""
    CalendarDay.objects.create(day="2027-02-01", working=False)
    run = JobRun("test_duplicates")
    with transaction.atomic():
        for day in ("2027-02-01", "2027-02-02"):
            with run.row(day):
                CalendarDay.objects.create(day=day, working=True)
        assert CalendarDay.objects.count() == 2
    assert [item.row for item in run.skipped] == ["2027-02-01"]
    assert "IntegrityError" in JobProblem.objects.get().error


def test_rows_outside_a_transaction_keep_what_their_own_transactions_committed():
    """``atomic=False``: the row's services commit their own work, as from a web request."""
    run = JobRun("test_services")
    with run.row("service", atomic=False):
        CalendarDay.objects.create(day="2027-03-01", working=False)
        raise RuntimeError("after the service")
    # Inside the test's transaction the row still had a savepoint: undone here.
    assert not CalendarDay.objects.exists()
    assert JobProblem.objects.get().error == "RuntimeError: after the service"


def test_a_step_that_cannot_go_on_stops_and_the_run_could_not_run():
    run = JobRun("test_gateway")
    seen = []
    with run.step("ask", "asking the gateway"):
        for number in (1, 2, 3):
            with run.row(f"payment {number}"):
                seen.append(number)
                if number == 2:
                    raise CannotGoOn("the gateway did not answer")
    with run.step("local"), run.row("other"):
        seen.append("other")

    assert seen == [1, 2, "other"]  # the step stopped; the next one ran
    assert run.not_run == {"asking the gateway": "the gateway did not answer"}
    assert not JobProblem.objects.exists()  # not the row's fault
    assert run.exit_status() == ExitStatus.COULD_NOT_RUN
    assert run.summary() == (
        "Could not run: asking the gateway (the gateway did not answer). "
        "Run it again once that is fixed."
    )
    with pytest.raises(CommandError) as ended:
        command_finish(run)
    assert ended.value.returncode == 2


def test_the_summary_tells_done_from_done_with_skipped_from_needs_a_person():
    clean = JobRun("test_clean")
    with clean.row("one"):
        pass
    written = []
    command_finish(clean, write=written.append)
    assert written == ["Done."]
    assert clean.exit_status(needs_person=2) == ExitStatus.NEEDS_PERSON
    assert clean.summary(needs_person=2) == "Done; 2 item(s) need a person."

    days = days_run([6, 7], poison=6)
    with pytest.raises(CommandError, match="Done with 1 skipped; 3 item") as ended:
        command_finish(days, needs_person=3)
    assert ended.value.returncode == 3


def test_two_runs_recording_the_same_problem_make_one_record():
    job_problem_record(job="test_race", row="x", error="E: one")
    # The second run's create loses on the unique index and counts on the first one's.
    with pytest.raises(IntegrityError), transaction.atomic():
        JobProblem.objects.create(
            job="test_race",
            row="x",
            error="E",
            first_seen=JobProblem.objects.get().first_seen,
            last_seen=JobProblem.objects.get().last_seen,
        )
    job_problem_record(job="test_race", row="x", error="E: two")

    problem = JobProblem.objects.get()
    assert (problem.count, problem.error) == (2, "E: two")


# --- The read-only listing in the back office -----------------------------------------------------
@pytest.fixture
def superuser_client(client):
    admin = StaffUserFactory(is_superuser=True)
    totp_enrol(admin)
    client.force_login(admin)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def test_staff_find_the_problems_in_the_back_office_and_cannot_change_them(superuser_client):
    days_run([8, 9], poison=9)
    problem = JobProblem.objects.get()

    listing = superuser_client.get("/cms-admin/job-problems/")
    assert listing.status_code == 200
    assert b"test_days" in listing.content and b"day 9" in listing.content
    detail = superuser_client.get(f"/cms-admin/job-problems/inspect/{problem.pk}/")
    assert detail.status_code == 200
    assert b"raise ValueError" in detail.content
    for url in (
        "/cms-admin/job-problems/new/",
        f"/cms-admin/job-problems/edit/{problem.pk}/",
        f"/cms-admin/job-problems/delete/{problem.pk}/",
    ):
        assert superuser_client.get(url).status_code == 404, url
        assert superuser_client.post(url).status_code == 404, url
