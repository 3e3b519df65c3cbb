"""The manager's dashboard in the back office: on-time rates per commitment and kind, working
days per step (a weekend does not count), open cases by age, CSAT from the survey, complaints
per 1,000 accounts; filtered by month and district; the same figures as CSV; only staff with the
permission reach it; and it costs the same queries however many cases there are."""

import csv
import io
import re
from datetime import datetime

import pytest
import time_machine
from django.urls import reverse

from applications.cases import case_create
from applications.dashboard import dashboard_figures
from applications.kinds import kind_versions_current
from applications.models import Case, Category, StepClock, SurveyAnswer
from portal.core.clock import BUSINESS_TIME_ZONE
from portal.roles import EDITORS, roles_ensure
from tests.applications.test_survey import LINK, completed, surveys
from tests.factories import (
    PASSWORD,
    ServiceAccountFactory,
    StaffUserFactory,
    UserFactory,
    totp_enrol,
)

pytestmark = pytest.mark.django_db

DASHBOARD = "/cms-admin/applications-dashboard/"
EXPORT = "/cms-admin/applications-dashboard/export/"
NOW = datetime(2026, 6, 20, 12, 0, tzinfo=BUSINESS_TIME_ZONE)


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=BUSINESS_TIME_ZONE)


@pytest.fixture(autouse=True)
def _pinned():
    with time_machine.travel(NOW, tick=False):
        yield


def case_of(category: str, district: str, **fields) -> Case:
    case = case_create(
        version=kind_versions_current()[category],
        customer_class="residential",
        applicant=UserFactory(),
        details={"district": district},
    )
    Case.objects.filter(pk=case.pk).update(**fields)
    case.refresh_from_db()
    return case


def clock_of(case, step, commitment, started, finished, due=None, missed=None) -> StepClock:
    return StepClock.objects.create(
        case=case,
        step=step,
        commitment=commitment,
        started_at=started,
        finished_at=finished,
        due_at=due,
        missed_at=missed,
    )


@pytest.fixture
def known():
    """June 2026 in two districts, and one step finished in May.

    - Pudong, a new connection: a supply plan reply from Friday 5 June to Monday 8 June, on time
      (1 working day: the weekend does not count); another from Monday 8 to Friday 12 June,
      after its deadline of Thursday 11 (4 working days); its acceptance, no deadline (0).
    - Huangpu, a complaint handed in on 1 June: answered from Monday 1 to Wednesday 3 June, on
      time (2 working days).
    - Open: a Pudong case handed in on 18 June (2 days old on the 20th), a Huangpu one handed in
      on 1 May (50 days); a completed one is not open.
    - Accounts: two in each district.
    """
    open_since = {"status": "in_progress", "closed_at": None}
    pudong = case_of(
        "new_connection",
        "浦东新区",
        status="completed",
        submitted_at=beijing(2026, 6, 1, 9),
        closed_at=beijing(2026, 6, 12, 11),
    )
    clock_of(pudong, "accepted", "", beijing(2026, 6, 5, 9), beijing(2026, 6, 5, 10))
    clock_of(
        pudong,
        "supply_plan_reply",
        "supply_plan_reply",
        beijing(2026, 6, 5, 10),
        beijing(2026, 6, 8, 15),
        due=beijing(2026, 6, 11),
    )
    clock_of(
        pudong,
        "supply_plan_reply",
        "supply_plan_reply",
        beijing(2026, 6, 8, 9),
        beijing(2026, 6, 12, 10),
        due=beijing(2026, 6, 11),
        missed=beijing(2026, 6, 11, 0, 5),
    )
    complaint = case_of(
        "complaint",
        "黄浦区",
        status="completed",
        submitted_at=beijing(2026, 6, 1, 8),
        closed_at=beijing(2026, 6, 3, 9),
    )
    clock_of(
        complaint,
        "handling",
        "complaint_answer",
        beijing(2026, 6, 1, 9),
        beijing(2026, 6, 3, 9),
        due=beijing(2026, 6, 10),
    )
    may = case_of(
        "meter_test",
        "黄浦区",
        status="completed",
        submitted_at=beijing(2026, 5, 2),
        closed_at=beijing(2026, 5, 29),
    )
    clock_of(
        may,
        "testing",
        "meter_test",
        beijing(2026, 5, 4),
        beijing(2026, 5, 29),
        beijing(2026, 5, 11),
    )
    case_of("new_connection", "浦东新区", submitted_at=beijing(2026, 6, 18, 9), **open_since)
    case_of("capacity_increase", "黄浦区", submitted_at=beijing(2026, 5, 1, 9), **open_since)
    case_of("complaint", "黄浦区", status="draft")  # a draft is nobody's complaint yet
    for district in ("浦东新区", "浦东新区", "黄浦区", "黄浦区"):
        ServiceAccountFactory(district=district)
    return pudong


def rates(rows) -> dict:
    return {r.key: (r.on_time, r.total, r.percent) for r in rows}


def test_on_time_working_days_open_cases_and_complaints_for_a_known_month(known):
    june = dashboard_figures(month=beijing(2026, 6, 1).date())

    assert rates(june.by_commitment) == {
        "supply_plan_reply": (1, 2, 50),
        "complaint_answer": (1, 1, 100),
    }
    assert rates(june.by_kind) == {"new_connection": (1, 2, 50), "complaint": (1, 1, 100)}
    assert (june.on_time.on_time, june.on_time.total, str(june.on_time.percent)) == (2, 3, "66.7")
    # (1 + 4) / 2 around the weekend of 6-7 June; the complaint Monday to Wednesday: 2.
    assert {s.step: (s.count, str(s.average)) for s in june.step_days} == {
        "accepted": (1, "0.0"),
        "supply_plan_reply": (2, "2.5"),
        "handling": (1, "2.0"),
    }
    assert [b.count for b in june.open_by_age] == [1, 0, 1, 0]
    assert (june.complaints.complaints, june.complaints.accounts) == (1, 4)
    assert str(june.complaints.per_thousand) == "250.00"


def test_the_month_and_district_filters(known):
    may = dashboard_figures(month=beijing(2026, 5, 15).date())
    assert rates(may.by_commitment) == {"meter_test": (0, 1, 0)}
    # At the end of May only the case handed in on 1 May was open (31 days old then).
    assert may.open_as_of == beijing(2026, 6, 1)
    assert [b.count for b in may.open_by_age] == [0, 0, 1, 0]
    assert may.complaints.complaints == 0

    huangpu = dashboard_figures(month=beijing(2026, 6, 1).date(), district="黄浦区")
    assert rates(huangpu.by_commitment) == {"complaint_answer": (1, 1, 100)}
    assert [s.step for s in huangpu.step_days] == ["handling"]
    assert [b.count for b in huangpu.open_by_age] == [0, 0, 1, 0]
    assert str(huangpu.complaints.per_thousand) == "500.00"  # 1 complaint, 2 accounts


def test_the_page_shows_charts_and_tables_and_filters(client, service_staff, known):
    page = client.get(DASHBOARD, {"month": "2026-06", "district": "浦东新区"})

    assert page.status_code == 200
    body = page.content.decode()
    assert body.count('<svg class="dashboard-chart"') >= 3
    assert "Supply plan reply: 50.0%" in body  # the bar's own title
    assert re.search(
        r"<th scope=\"row\">Supply plan reply</th><td>2</td><td>1</td><td>1</td>", body
    )
    assert "Figures for 2026-06" in body and "浦东新区" in body
    assert "Complaint answered" not in body  # Huangpu's is filtered out

    nonsense = client.get(DASHBOARD, {"month": "June", "district": "nowhere"})
    assert nonsense.status_code == 200  # the current month, every district, and the errors
    assert "Figures for 2026-06" in nonsense.content.decode()


def test_the_csv_export_holds_the_same_figures(client, service_staff, known):
    response = client.get(EXPORT, {"month": "2026-06"})

    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="applications-dashboard-2026-06.csv"' in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Figure", "Item", "Count", "Value"]
    assert ["Month", "2026-06", "", ""] in rows
    assert ["On-time rate (%) by commitment", "Supply plan reply", "2", "50.0"] in rows
    assert ["On-time rate (%) by kind", "Complaint", "1", "100.0"] in rows
    assert ["Average working days per step", "Supply plan reply", "2", "2.5"] in rows
    assert ["Complaints per 1,000 accounts", "Complaints", "1", "250.00"] in rows
    assert ["Satisfaction (CSAT)", "Average score (1 to 5)", "0", ""] in rows


def test_a_survey_answer_shows_in_csat(
    client, service_staff, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        case = completed(UserFactory(language="en"))
    link = LINK.search(surveys(mailoutbox, case)[0].body).group(0)
    client.post(link, {"score": "4", "comment": "Quick."})
    other = case_of("complaint", "黄浦区", status="completed")
    SurveyAnswer.objects.create(case=other, score=1, answered_at=NOW)

    figures = dashboard_figures(month=NOW.date())
    assert (figures.csat.count, str(figures.csat.average)) == (2, "2.5")
    assert dict(figures.csat.by_score) == {5: 0, 4: 1, 3: 0, 2: 0, 1: 1}
    body = client.get(DASHBOARD).content.decode()
    assert "2.5 / 5" in body and "2 answers" in body
    assert "Quick." in body and case.reference in body  # the month's comments
    assert dashboard_figures(month=NOW.date(), district="黄浦区").csat.count == 1


def sign_in(client, user, totp_code):
    secret = totp_enrol(user)
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})


def test_customers_and_editors_cannot_reach_the_dashboard(client, totp_code):
    client.force_login(UserFactory())
    for url in (DASHBOARD, EXPORT):
        response = client.get(url)
        assert response.status_code in (302, 403)
        assert b"dashboard-chart" not in response.content

    client.logout()
    editor = StaffUserFactory()
    editor.groups.add(roles_ensure()[EDITORS])
    sign_in(client, editor, totp_code)
    assert client.get("/cms-admin/").status_code == 200
    assert "Applications dashboard" not in client.get("/cms-admin/").content.decode()
    for url in (DASHBOARD, EXPORT):
        response = client.get(url)
        assert response.status_code in (302, 403)  # Wagtail sends them back to the admin's home
        assert not response.streaming and b"dashboard-chart" not in response.content


def test_service_staff_find_it_in_the_menu(client, service_staff):
    assert "Applications dashboard" in client.get("/cms-admin/").content.decode()


def test_the_dashboard_costs_the_same_queries_for_many_cases(
    client, service_staff, known, django_assert_max_num_queries
):
    with django_assert_max_num_queries(40) as few:
        client.get(DASHBOARD, {"month": "2026-06"})
    for day in range(1, 20):
        case = case_of(Category.NEW_CONNECTION, f"区{day % 4}", submitted_at=beijing(2026, 6, day))
        clock_of(
            case,
            "site_survey",
            "",
            beijing(2026, 6, day, 9),
            beijing(2026, 6, day + 1, 9),
            due=beijing(2026, 6, day + 2),
        )
        SurveyAnswer.objects.create(case=case, score=day % 5 + 1, answered_at=NOW)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(DASHBOARD, {"month": "2026-06"})
    assert page.status_code == 200
