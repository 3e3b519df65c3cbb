"""Working a case: its status and steps move only as its kind allows, every move is on the record,
each step's clock counts against the published commitment, stops while the customer is asked for
something and runs on, lengthened, when they answer; the watch warns once and records a missed
deadline once, with who held the case."""

import io
import threading
from datetime import datetime

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import translation

from applications.cases import (
    case_accept,
    case_advance,
    case_answer,
    case_assign,
    case_create,
    case_note,
    case_reject,
    case_request_material,
    case_submit,
    case_withdraw,
)
from applications.clocks import deadline_watch
from applications.kinds import kind_versions_current
from applications.models import Case, CaseChannel, CaseStatus, EventKind, StepClock
from portal.core.audit import audit_chain_verify
from portal.core.clock import BUSINESS_TIME_ZONE
from portal.core.errors import NotAllowed
from portal.core.jobs import ExitStatus
from portal.core.transitions import TransitionRefused
from portal.models import AuditEvent, JobProblem, Notification, NotificationKind
from portal.roles import SERVICE_STAFF, roles_ensure
from tests.applications.documents import with_required_documents
from tests.factories import StaffUserFactory, UserFactory
from tests.poison import refuse_changes

pytestmark = pytest.mark.django_db


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=BUSINESS_TIME_ZONE)


@pytest.fixture(autouse=True)
def sgcc_2011(settings):
    """State Grid 2011 promises a supply plan reply in 3 working days to a resident."""
    settings.COMMITMENT_RULE_SET = "sgcc-2011"


def new_connection(applicant, customer_class="residential", **kwargs) -> Case:
    version = kind_versions_current()["new_connection"]
    case = case_create(
        version=version,
        customer_class=customer_class,
        applicant=applicant,
        details={"address": "浦东新区世纪大道 100 号", "district": "浦东新区"},
        **kwargs,
    )
    return with_required_documents(case)


def at_supply_plan_reply(case, staff) -> Case:
    case = case_submit(case=case, actor=case.applicant)
    case = case_accept(case=case, actor=staff)
    case = case_advance(case=case, to="site_survey", actor=staff)
    return case_advance(case=case, to="supply_plan_reply", actor=staff)


def running_clock(case) -> StepClock:
    return StepClock.objects.get(case=case, finished_at__isnull=True, whole_case=False)


def test_a_residential_connection_goes_through_its_steps_to_completed():
    resident, staff = UserFactory(), StaffUserFactory()
    with time_machine.travel(beijing(2026, 6, 1, 10, 0), tick=False):
        case = new_connection(resident)
        assert (case.status, case.step, case.reference[:9]) == ("draft", "", "A20260601")
        case = at_supply_plan_reply(case, staff)

    # Residential: no design review or mid-construction inspection.
    with pytest.raises(TransitionRefused):
        case_advance(case=case, to="design_review", actor=staff)
    for step in ("completion_inspection", "contract_signed", "energised", "archived"):
        case = case_advance(case=case, to=step, actor=staff)

    case.refresh_from_db()
    assert (case.status, case.step, case.due_at) == ("completed", "archived", None)
    assert case.closed_at is not None
    steps = list(
        case.events.filter(kind=EventKind.STEP).order_by("pk").values_list("to_value", flat=True)
    )
    assert steps == [
        "accepted",
        "site_survey",
        "supply_plan_reply",
        "completion_inspection",
        "contract_signed",
        "energised",
        "archived",
    ]
    statuses = list(
        case.events.filter(kind=EventKind.STATUS).order_by("pk").values_list("to_value", flat=True)
    )
    assert statuses == ["submitted", "in_progress", "completed"]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"application.submitted", "application.step.energised", "application.completed"} <= (
        actions
    )
    assert StepClock.objects.filter(case=case, finished_at__isnull=True).count() == 0
    assert audit_chain_verify().whole


def test_a_high_voltage_connection_has_the_design_review_and_its_clock():
    business, staff = UserFactory(), StaffUserFactory()
    case = at_supply_plan_reply(new_connection(business, "hv_single"), staff)

    case = case_advance(case=case, to="design_review", actor=staff)

    assert case.step == "design_review"
    assert running_clock(case).commitment == "design_review"


def test_the_supply_plan_reply_falls_due_after_three_working_days():
    resident, staff = UserFactory(), StaffUserFactory()
    with time_machine.travel(beijing(2026, 6, 1, 10, 0), tick=False):  # a Monday
        case = at_supply_plan_reply(new_connection(resident), staff)

    clock_row = running_clock(case)
    assert (clock_row.amount, clock_row.unit, clock_row.rule_set) == (
        3,
        "working_days",
        "sgcc-2011",
    )
    # Three working days after Monday: Thursday, until midnight.
    assert clock_row.due_at == beijing(2026, 6, 5, 0, 0)
    case.refresh_from_db()
    assert case.due_at == clock_row.due_at


def test_the_clock_stops_while_the_customer_is_asked_and_runs_on_when_they_answer():
    resident, staff = UserFactory(), StaffUserFactory()
    with time_machine.travel(beijing(2026, 6, 1, 10, 0), tick=False):
        case = at_supply_plan_reply(new_connection(resident), staff)
    with time_machine.travel(beijing(2026, 6, 2, 9, 0), tick=False):  # Tuesday
        case = case_request_material(case=case, actor=staff, text="请补充房产证明的清晰扫描件。")
    assert case.status == CaseStatus.WAITING_CUSTOMER
    assert case.due_at is None
    assert running_clock(case).paused_at == beijing(2026, 6, 2, 9, 0)

    with time_machine.travel(beijing(2026, 6, 4, 15, 0), tick=False):  # Thursday
        case = case_answer(case=case, actor=resident, text="已上传。")

    running = running_clock(case)
    # Wednesday and Thursday were the customer's: the reply is due two working days later.
    assert running.due_at == beijing(2026, 6, 9, 0, 0)
    assert running.paused_at is None
    assert running.paused_seconds == (2 * 24 + 6) * 3600
    case.refresh_from_db()
    assert (case.status, case.due_at) == (CaseStatus.IN_PROGRESS, running.due_at)
    kinds = list(case.events.order_by("pk").values_list("kind", flat=True))
    assert kinds[-4:] == ["request", "status", "answer", "status"]


def test_a_request_before_acceptance_goes_back_to_submitted():
    resident, staff = UserFactory(), StaffUserFactory()
    case = case_submit(case=new_connection(resident), actor=resident)
    case = case_request_material(case=case, actor=staff, text="Please upload your ID card.")
    case = case_answer(case=case, actor=resident, text="Uploaded.")

    assert case.status == CaseStatus.SUBMITTED


def test_only_a_case_not_yet_accepted_can_be_withdrawn():
    resident, staff = UserFactory(), StaffUserFactory()
    first = case_submit(case=new_connection(resident), actor=resident)
    first = case_withdraw(case=first, actor=resident, reason="Moved house.")
    assert (first.status, first.closed_at is not None) == ("withdrawn", True)

    second = case_accept(
        case=case_submit(case=new_connection(resident), actor=resident), actor=staff
    )
    with pytest.raises(NotAllowed):
        case_withdraw(case=second, actor=resident)
    second.refresh_from_db()
    assert second.status == CaseStatus.IN_PROGRESS


def test_a_rejection_needs_a_reason_and_ends_the_clock():
    resident, staff = UserFactory(), StaffUserFactory()
    case = at_supply_plan_reply(new_connection(resident), staff)

    case = case_reject(case=case, actor=staff, reason="The premises are outside our area.")

    assert case.status == CaseStatus.REJECTED
    assert not StepClock.objects.filter(case=case, finished_at__isnull=True).exists()
    event = case.events.filter(kind=EventKind.STATUS).last()
    assert (event.to_value, event.text) == ("rejected", "The premises are outside our area.")
    with pytest.raises(TransitionRefused):
        case_submit(case=case, actor=resident)


def test_accepting_twice_changes_nothing_more():
    resident, staff = UserFactory(), StaffUserFactory()
    case = case_submit(case=new_connection(resident), actor=resident)
    case_accept(case=case, actor=staff)
    case_accept(case=case, actor=staff)

    assert StepClock.objects.filter(case=case).count() == 1
    assert case.events.filter(kind=EventKind.STEP).count() == 1


def test_notes_and_assignment_are_for_staff_only():
    resident, staff, colleague = UserFactory(), StaffUserFactory(), StaffUserFactory()
    case = case_submit(case=new_connection(resident), actor=resident)

    case_note(case=case, actor=staff, text="Customer called twice about the date.")
    case = case_assign(case=case, assignee=colleague, actor=staff)

    assert case.assignee == colleague
    assert set(case.events.filter(internal=True).values_list("kind", flat=True)) == {
        "note",
        "assigned",
    }
    assert AuditEvent.objects.filter(action="application.assigned").count() == 1


def test_the_applicant_hears_of_every_status_change_in_their_language(
    django_capture_on_commit_callbacks,
):
    resident, staff = UserFactory(language="en"), StaffUserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        case = case_submit(case=new_connection(resident), actor=resident)
        case = case_accept(case=case, actor=staff)
        case = case_request_material(case=case, actor=staff, text="Please upload your ID card.")

    sent = Notification.objects.filter(
        user=resident, kind=NotificationKind.APPLICATION_STATUS, channel="email"
    ).order_by("pk")
    assert [n.context["application"]["status"] for n in sent] == [
        "Submitted, waiting to be accepted",
        "In progress",
        "Waiting for the customer's material",
    ]
    assert sent.last().context["application"]["note"] == "Please upload your ID card."
    assert all(n.subject.startswith(f"Application {case.reference}") for n in sent)


def test_a_case_opened_by_staff_records_the_channel():
    staff = StaffUserFactory()
    case = new_connection(None, channel=CaseChannel.HOTLINE, opened_by=staff)

    assert (case.channel, case.opened_by, case.applicant) == ("hotline", staff, None)


def test_the_watch_warns_once_and_records_a_missed_deadline_once_with_its_holder():
    resident, staff, holder = UserFactory(), StaffUserFactory(), StaffUserFactory()
    with time_machine.travel(beijing(2026, 6, 1, 10, 0), tick=False):
        case = at_supply_plan_reply(new_connection(resident), staff)
        case = case_assign(case=case, assignee=holder, actor=staff)
        assert deadline_watch().warned == 0  # due Thursday midnight: not near on Monday

    with time_machine.travel(beijing(2026, 6, 3, 8, 0), tick=False):  # Wednesday
        assert deadline_watch().warned == 1
        assert deadline_watch().warned == 0

    with time_machine.travel(beijing(2026, 6, 5, 0, 1), tick=False):  # a minute late
        first, second = deadline_watch(), deadline_watch()
    assert (first.missed, second.missed) == (1, 0)
    running = running_clock(case)
    assert (running.missed_holder, running.missed_at) == (holder, beijing(2026, 6, 5, 0, 1))

    # Finishing the step later keeps the record.
    with time_machine.travel(beijing(2026, 6, 8, 9, 0), tick=False):
        case_advance(case=case, to="completion_inspection", actor=holder)
    running.refresh_from_db()
    assert running.missed_at == beijing(2026, 6, 5, 0, 1)
    assert case.events.filter(kind=EventKind.MISSED).count() == 1
    assert AuditEvent.objects.filter(action="application.deadline_missed").count() == 1


def test_a_step_finished_late_before_the_watch_ran_is_recorded_missed():
    resident, staff = UserFactory(), StaffUserFactory()
    with time_machine.travel(beijing(2026, 6, 1, 10, 0), tick=False):
        case = at_supply_plan_reply(new_connection(resident), staff)
    with time_machine.travel(beijing(2026, 6, 8, 9, 0), tick=False):
        case_advance(case=case, to="completion_inspection", actor=staff)

    late = StepClock.objects.get(case=case, step="supply_plan_reply")
    assert late.missed_at == beijing(2026, 6, 8, 9, 0)
    assert deadline_watch().missed == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_two_staff_moving_one_case_at_once_one_wins_and_no_history_is_lost():
    resident, staff = UserFactory(), StaffUserFactory()
    case = at_supply_plan_reply(new_connection(resident), staff)
    start = threading.Barrier(2)
    outcomes = []

    def move():
        try:
            start.wait()
            case_advance(case=Case.objects.get(pk=case.pk), to="completion_inspection", actor=staff)
            outcomes.append("moved")
        except TransitionRefused:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=move) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    case.refresh_from_db()
    assert case.step == "completion_inspection"
    assert case.events.filter(kind=EventKind.STEP, to_value="completion_inspection").count() == 1
    assert StepClock.objects.filter(case=case, finished_at__isnull=True).count() == 1
    assert sorted(outcomes) in (["moved", "moved"], ["moved", "refused"])


def test_the_watch_command_says_what_it_did():
    resident, staff = UserFactory(), StaffUserFactory()
    with time_machine.travel(beijing(2026, 6, 1, 10, 0), tick=False):
        at_supply_plan_reply(new_connection(resident), staff)
    out = io.StringIO()
    with time_machine.travel(beijing(2026, 6, 5, 9, 0), tick=False), translation.override("en"):
        call_command("watch_deadlines", stdout=out)
    assert "warned: 1" in out.getvalue()
    assert "recorded: 1" in out.getvalue()


def test_a_clock_the_watch_cannot_update_is_kept_for_a_person_and_the_others_are_warned():
    resident, staff = UserFactory(), StaffUserFactory()
    with time_machine.travel(beijing(2026, 6, 1, 10, 0), tick=False):
        first = at_supply_plan_reply(new_connection(resident), staff)
        second = at_supply_plan_reply(new_connection(resident), staff)
    refuse_changes(StepClock, running_clock(first).pk)

    out = io.StringIO()
    with (
        time_machine.travel(beijing(2026, 6, 3, 8, 0), tick=False),
        translation.override("en"),
        pytest.raises(CommandError) as ended,
    ):
        call_command("watch_deadlines", stdout=out)

    assert ended.value.returncode == ExitStatus.NEEDS_PERSON
    assert "warned: 1" in out.getvalue()
    assert running_clock(second).warned_at is not None
    assert running_clock(first).warned_at is None
    problem = JobProblem.objects.get()
    assert (problem.job, problem.step) == ("watch_deadlines", "warn")


def test_the_whole_new_connection_has_its_own_clock_under_the_2023_commitments(settings):
    """State Grid 2023 promises a resident the whole new connection in 5 working days from
    acceptance (and no time for the supply plan reply alone)."""
    settings.COMMITMENT_RULE_SET = "sgcc-2023"
    resident, staff = UserFactory(), StaffUserFactory()
    with time_machine.travel(beijing(2026, 6, 1, 10, 0), tick=False):  # a Monday
        case = at_supply_plan_reply(new_connection(resident), staff)

    whole = StepClock.objects.get(case=case, whole_case=True)
    assert (whole.commitment, whole.amount, whole.rule_set) == ("new_connection", 5, "sgcc-2023")
    assert whole.due_at == beijing(2026, 6, 9, 0, 0)  # five working days: by Monday's end
    assert running_clock(case).due_at is None  # the step itself has no limit in this set
    case.refresh_from_db()
    assert case.due_at == whole.due_at

    # Waiting on the customer stops it too, and their two working days move it on.
    with time_machine.travel(beijing(2026, 6, 2, 9, 0), tick=False):
        case = case_request_material(case=case, actor=staff, text="请补充房产证明。")
    with time_machine.travel(beijing(2026, 6, 4, 15, 0), tick=False):
        case = case_answer(case=case, actor=resident, text="已上传。")
    whole.refresh_from_db()
    assert whole.due_at == beijing(2026, 6, 11, 0, 0)
    assert case.due_at == whole.due_at

    # Completing the case stops it, on time.
    with time_machine.travel(beijing(2026, 6, 10, 16, 0), tick=False):
        for step in ("completion_inspection", "contract_signed", "energised", "archived"):
            case = case_advance(case=case, to=step, actor=staff)
    whole.refresh_from_db()
    assert whole.finished_at == beijing(2026, 6, 10, 16, 0)
    assert whole.missed_at is None
    assert not StepClock.objects.filter(case=case, finished_at__isnull=True).exists()


def test_the_whole_application_clock_shows_on_both_sides(settings, client, service_staff):
    settings.COMMITMENT_RULE_SET = "sgcc-2023"
    resident, staff = UserFactory(language="en"), StaffUserFactory()
    with time_machine.travel(beijing(2026, 6, 1, 10, 0), tick=False):
        case = case_accept(
            case=case_submit(case=new_connection(resident), actor=resident), actor=staff
        )

    with time_machine.travel(beijing(2026, 6, 2, 10, 0), tick=False):
        staff_page = client.get(f"/cms-admin/applications/inspect/{case.pk}/").content.decode()
        client.force_login(resident)
        customer_page = client.get(
            reverse("applications:detail", kwargs={"uuid": case.uuid}),
            HTTP_ACCEPT_LANGUAGE="en",
        ).content.decode()
    for page in (staff_page, customer_page):
        assert "The whole application due" in page
        assert "by the end of 2026-06-08" in page
        assert "4 more working days after today" in page


def test_the_deadline_warning_is_emailed_once_to_the_holder_or_to_the_staff(
    mailoutbox, django_capture_on_commit_callbacks
):
    resident, staff = UserFactory(), StaffUserFactory()
    holder = StaffUserFactory(language="en")
    team = [StaffUserFactory(language="en") for _ in range(2)]
    for member in team:
        member.groups.add(roles_ensure()[SERVICE_STAFF])
    with time_machine.travel(beijing(2026, 6, 1, 10, 0), tick=False):
        held = at_supply_plan_reply(new_connection(resident), staff)
        held = case_assign(case=held, assignee=holder, actor=staff)
        pooled = at_supply_plan_reply(new_connection(resident), staff)

    with (
        time_machine.travel(beijing(2026, 6, 3, 8, 0), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        deadline_watch()
        deadline_watch()

    to_holder = [m for m in mailoutbox if m.to == [holder.email]]
    assert len(to_holder) == 1
    assert to_holder[0].subject == f"Deadline near: application {held.reference}"
    assert "must be finished by 2026-06-05 00:00" in to_holder[0].body
    assert f"/cms-admin/applications/inspect/{held.pk}/" in to_holder[0].body
    pooled_mail = [m for m in mailoutbox if pooled.reference in m.subject]
    assert sorted(m.to[0] for m in pooled_mail) == sorted(member.email for member in team)
    assert len(mailoutbox) == 3
