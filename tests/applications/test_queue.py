"""The staff's application queue in the back office: sorted by deadline, filtered and searched;
a case worked through its actions (each one the service's, refusals shown, nothing else changed);
a case opened for a customer who phoned; documents served to staff; editors and customers kept
out; and the queue's queries do not grow with its length."""

from datetime import datetime

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.db import connection
from django.urls import reverse

from applications.cases import (
    case_accept,
    case_advance,
    case_assign,
    case_create,
    case_submit,
)
from applications.kinds import kind_versions_current
from applications.models import Case, CaseStatus, EventKind
from portal.core.clock import BUSINESS_TIME_ZONE
from portal.roles import EDITORS, roles_ensure
from tests.applications.documents import png_bytes, with_required_documents
from tests.factories import (
    PASSWORD,
    BindingFactory,
    ServiceAccountFactory,
    StaffUserFactory,
    UserFactory,
    totp_enrol,
)

pytestmark = pytest.mark.django_db

QUEUE = "/cms-admin/applications/"


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=BUSINESS_TIME_ZONE)


@pytest.fixture(autouse=True)
def sgcc_2011(settings):
    settings.COMMITMENT_RULE_SET = "sgcc-2011"


def submitted(district="浦东新区", applicant=None, contact_name="") -> Case:
    applicant = applicant or UserFactory()
    case = case_create(
        version=kind_versions_current()["new_connection"],
        customer_class="residential",
        applicant=applicant,
        details={"address": "世纪大道 100 号", "district": district, "contact_name": contact_name},
    )
    return case_submit(case=with_required_documents(case), actor=applicant)


def act(client, case, action, **data):
    return client.post(f"{QUEUE}act/{case.pk}/", {"action": action, **data})


def test_the_queue_lists_open_cases_nearest_deadline_first(client, service_staff):
    staff = StaffUserFactory()
    with time_machine.travel(beijing(2026, 6, 1, 10, 0), tick=False):
        later = case_accept(case=submitted(), actor=staff)  # "accepted" has no time limit
        soon = case_accept(case=submitted(), actor=staff)
        soon = case_advance(case=soon, to="site_survey", actor=staff)
        soon = case_advance(case=soon, to="supply_plan_reply", actor=staff)
    waiting = submitted(district="徐汇区")
    draft = case_create(
        version=kind_versions_current()["new_connection"],
        customer_class="residential",
        applicant=UserFactory(),
    )

    page = client.get(QUEUE).content.decode()

    assert page.index(soon.reference) < page.index(later.reference)
    assert waiting.reference in page
    assert draft.reference not in page
    only_xuhui = client.get(QUEUE, {"district": "徐汇区"}).content.decode()
    assert waiting.reference in only_xuhui and soon.reference not in only_xuhui
    searched = client.get(QUEUE, {"q": soon.reference}).content.decode()
    assert soon.reference in searched and waiting.reference not in searched
    # Typed in lower case, or only its end, as read out on the phone.
    for typed in (soon.reference.lower(), soon.reference[-6:]):
        searched = client.get(QUEUE, {"q": typed}).content.decode()
        assert soon.reference in searched and waiting.reference not in searched


def row_of(page: str, reference: str) -> str:
    start = page.index(reference)
    return page[start : page.index("</tr>", start)]


def test_the_queue_marks_deadlines_near_and_passed_as_the_watch_does(client, service_staff):
    staff = StaffUserFactory()
    with time_machine.travel(beijing(2026, 6, 1, 10, 0), tick=False):  # a Monday
        case = case_accept(case=submitted(), actor=staff)
        case = case_advance(case=case, to="site_survey", actor=staff)
        case = case_advance(case=case, to="supply_plan_reply", actor=staff)  # 3 working days
        unhurried = case_accept(case=submitted(), actor=staff)  # no time limit at "accepted"

    with time_machine.travel(beijing(2026, 6, 1, 11, 0), tick=False):
        row = row_of(client.get(QUEUE).content.decode(), case.reference)
        assert "Due soon" not in row and "Overdue" not in row
    with time_machine.travel(beijing(2026, 6, 3, 9, 0), tick=False):  # due by Thursday's end
        page = client.get(QUEUE).content.decode()
        assert "Due soon" in row_of(page, case.reference)
        assert "Due soon" not in row_of(page, unhurried.reference)
    with time_machine.travel(beijing(2026, 6, 8, 9, 0), tick=False):
        assert "Overdue" in row_of(client.get(QUEUE).content.decode(), case.reference)


def test_overdue_filter_shows_only_cases_past_their_deadline(client, service_staff):
    staff = StaffUserFactory()
    with time_machine.travel(beijing(2026, 6, 1, 10, 0), tick=False):
        late = case_accept(case=submitted(), actor=staff)
        late = case_advance(case=late, to="site_survey", actor=staff)
        late = case_advance(case=late, to="supply_plan_reply", actor=staff)
    fresh = submitted()

    with time_machine.travel(beijing(2026, 6, 8, 9, 0), tick=False):
        page = client.get(QUEUE, {"state": "overdue"}).content.decode()

    assert late.reference in page
    assert fresh.reference not in page


def test_staff_work_a_case_through_its_actions(
    client, service_staff, django_capture_on_commit_callbacks
):
    case = submitted()
    url = f"{QUEUE}inspect/{case.pk}/"

    act(client, case, "accept")
    act(client, case, "assign", assignee=service_staff.pk)
    act(client, case, "advance", to="site_survey", note="")
    act(client, case, "note", text="客户要求上午上门。")
    act(client, case, "request", text="请补充房产证明。")
    case.refresh_from_db()
    assert (case.status, case.step, case.assignee) == (
        CaseStatus.WAITING_CUSTOMER,
        "site_survey",
        service_staff,
    )

    page = client.get(url).content.decode()
    assert "客户要求上午上门。" in page  # staff see the internal note
    assert "请补充房产证明。" in page
    refused = act(client, case, "advance", to="supply_plan_reply")
    assert refused.status_code == 302
    assert "not possible" in client.get(url).content.decode()
    case.refresh_from_db()
    assert case.step == "site_survey"

    act(client, case, "reject", text="Outside our supply area.")
    case.refresh_from_db()
    assert (case.status, case.close_reason or "") == (CaseStatus.REJECTED, "")
    assert case.events.filter(kind=EventKind.STATUS, to_value="rejected").get().text == (
        "Outside our supply area."
    )


def test_a_case_opened_for_a_customer_who_phoned_appears_in_their_list(client, service_staff):
    account = ServiceAccountFactory()

    answer = client.post(
        f"{QUEUE}open/",
        {
            "kind": "meter_test",
            "customer_class": "residential",
            "channel": "hotline",
            "account_number": account.number,
            "contact_name": "李娜",
            "contact_phone": "13900139000",
            "address": account.address,
            "district": account.district,
            "description": "电表走得太快。",
        },
    )

    case = Case.objects.get()
    assert answer.url == f"{QUEUE}inspect/{case.pk}/"
    assert (case.status, case.channel, case.opened_by, case.account) == (
        CaseStatus.SUBMITTED,
        "hotline",
        service_staff,
        account,
    )
    customer = UserFactory()
    BindingFactory(user=customer, account=account)
    client.force_login(customer)
    assert case.reference in client.get(reverse("applications:list")).content.decode()


def test_staff_download_a_document_and_editors_see_no_cases(client, service_staff, totp_code):
    case = submitted()
    doc = case.documents.first()

    download = client.get(f"{QUEUE}document/{case.pk}/{doc.uuid}/")
    assert download["Content-Disposition"].startswith("attachment;")
    assert b"".join(download.streaming_content) == png_bytes()

    editor = StaffUserFactory()
    editor.groups.add(roles_ensure()[EDITORS])
    secret = totp_enrol(editor)
    client.logout()
    client.post(reverse("account_login"), {"login": editor.email, "password": PASSWORD})
    client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert client.get("/cms-admin/").status_code == 200  # an editor in the back office
    assert client.get(QUEUE).status_code in (302, 403)
    assert client.get(f"{QUEUE}inspect/{case.pk}/").status_code in (302, 403)
    denied = client.get(f"{QUEUE}document/{case.pk}/{doc.uuid}/")
    assert denied.status_code in (302, 403) and not denied.streaming
    assert act(client, case, "accept").status_code in (302, 403)
    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED
    assert Group.objects.get(name=EDITORS).permissions.filter(codename="view_case").count() == 0


def worked(staff, holder, name) -> Case:
    """A case staff accepted on 1 June, gave to ``holder`` and moved to the supply plan reply
    (due within days under sgcc-2011): in the open queue, overdue a week later, found by
    ``name``."""
    with time_machine.travel(beijing(2026, 6, 1, 10, 0), tick=False):
        case = case_accept(case=submitted(contact_name=name), actor=staff)
        case_assign(case=case, assignee=holder, actor=staff)
        case = case_advance(case=case, to="site_survey", actor=staff)
        return case_advance(case=case, to="supply_plan_reply", actor=staff)


@pytest.mark.parametrize(
    "query",
    [{}, {"state": "overdue"}, {"q": "李娜"}, {"state": "", "district": "浦东新区"}],
    ids=["open-by-deadline", "overdue", "search", "every-state-one-district"],
)
def test_the_queue_costs_the_same_queries_for_many_cases(
    client, service_staff, django_assert_max_num_queries, query
):
    """Each case on the page shows its kind, status, step, due date and holder: the queries for
    a page of 3 cases are all a page of 33 takes (no query per case, per holder or per kind)."""

    def page():
        with time_machine.travel(beijing(2026, 6, 8, 9, 0), tick=False):
            return client.get(QUEUE, query).content.decode()

    holders = [StaffUserFactory() for _ in range(3)]
    cases = [worked(service_staff, holders[n], name="李娜") for n in range(3)]
    with django_assert_max_num_queries(40) as few:
        shown = page()
    assert all(case.reference in shown for case in cases)
    # Thirty more, half of them held by someone no other case has.
    cases += [
        worked(service_staff, StaffUserFactory() if n % 2 else holders[n % 3], name="李娜")
        for n in range(30)
    ]
    with django_assert_max_num_queries(len(few.captured_queries)):
        shown = page()
    assert all(case.reference in shown for case in cases)  # 33 on one page of 50


# --- At many cases: search through an index, counting within a bound, the order off an index ---
def opened(**details) -> Case:
    applicant = UserFactory()
    case = case_create(
        version=kind_versions_current()["new_connection"],
        customer_class="residential",
        applicant=applicant,
        details={"address": "世纪大道 100 号", "district": "浦东新区", **details},
    )
    return case_submit(case=with_required_documents(case), actor=applicant)


def found(client, text: str) -> str:
    return client.get(QUEUE, {"q": text}).content.decode()


def test_search_finds_part_of_a_name_phone_address_or_reference_as_before(client, service_staff):
    """On PostgreSQL the search reads an index of character pairs first (migration 0010); what
    it finds is exactly what matching each field found before, on both databases."""
    fang = opened(contact_name="王芳", contact_phone="13900139001")
    fangfang = opened(contact_name="王芳芳", contact_phone="13700137002")
    na = opened(contact_name="李娜", address="朝阳区建国路 88 号 Tower B", contact_phone="1")

    page = found(client, "王芳")
    assert fang.reference in page and fangfang.reference in page and na.reference not in page
    page = found(client, "王")  # one character: no pair to look up
    assert fang.reference in page and fangfang.reference in page and na.reference not in page
    assert found(client, "芳芳").count("inspect/") == 1
    for text in ("建国路", "tower b", "TOWER", "0013900", fangfang.reference[-6:]):
        page = found(client, text)
        expected = fangfang if text[-1].isdigit() and text != "0013900" else na
        if text == "0013900":
            expected = fang
        assert expected.reference in page, text
        assert page.count("inspect/") == 1, text
    # Text that spans two fields matches neither of them.
    assert "inspect/" not in found(client, "芳 139")
    assert "inspect/" not in found(client, "王芳 1")


def many_submitted(count: int, **fields) -> list[Case]:
    version = kind_versions_current()["new_connection"]
    return Case.objects.bulk_create(
        Case(
            reference=f"A20260601{n:06d}",
            kind_version=version,
            category="new_connection",
            customer_class="residential",
            **({"status": CaseStatus.SUBMITTED, "contact_name": "张伟"} | fields),
        )
        for n in range(count)
    )


def test_the_queue_counts_its_cases_only_so_far_past_the_page(
    client, service_staff, monkeypatch, django_assert_max_num_queries
):
    """Beyond QUEUE_COUNT_PAGES pages past the one shown, the queue says "more than" instead of
    counting every case; the pages past it are still reached, and counted from there."""
    from applications import admin_views

    with django_assert_max_num_queries(40) as few:
        client.get(QUEUE)
    monkeypatch.setattr(admin_views, "QUEUE_COUNT_PAGES", 1)
    cases = many_submitted(60)

    with django_assert_max_num_queries(len(few.captured_queries)):
        first = client.get(QUEUE).content.decode()
    assert first.count("inspect/") == 50
    assert "There are more than 50 matches" in first
    assert "Page 1 of more than 1" in first
    assert "ore than 50 applications" in first  # capitalised
    assert "?p=2" in first

    second = client.get(QUEUE, {"p": 2}).content.decode()
    assert second.count("inspect/") == 10
    assert "Page 2 of 2" in second and "more than" not in second
    shown = {c.reference for c in cases if c.reference in first + second}
    assert len(shown) == 60

    searched = client.get(QUEUE, {"q": "张伟"}).content.decode()
    assert "There are more than 50 matches" in searched
    monkeypatch.setattr(admin_views, "QUEUE_COUNT_PAGES", 20)
    assert "There are 60 matches" in client.get(QUEUE, {"q": "张伟"}).content.decode()


def plan_of(client, query: dict, table: str = "applications_case") -> str:
    """The plan of the statement that reads the page's cases, as the database would run it on
    a large table (PostgreSQL: with sequential scans and sorts priced out, since a test's few
    rows make any plan cheap)."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(QUEUE, query)
    (sql,) = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith(f'SELECT "{table}"."id"') and "LIMIT" in q["sql"]
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute(f"EXPLAIN {sql}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return "\n".join(" ".join(str(v) for v in row) for row in cursor.fetchall())


@pytest.mark.parametrize("query", [{}, {"state": "overdue"}], ids=["open", "overdue"])
def test_the_first_page_is_read_off_the_open_cases_index_not_sorted(client, service_staff, query):
    many_submitted(3, status=CaseStatus.IN_PROGRESS, due_at=beijing(2026, 6, 1, 10, 0))
    plan = plan_of(client, query)
    assert "case_queue_open" in plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the index of character pairs: PostgreSQL only"
)
def test_the_searched_fields_are_the_pairs_index_expression_on_postgresql(client, service_staff):
    """The search's condition is the expression ``case_search_bigrams`` indexes, word for word
    (else PostgreSQL reads every case): with only the index's own scan left to it, the planner
    takes it. The queue's search results are checked above."""
    from applications.admin_views import SEARCH_BIGRAMS

    many_submitted(3)
    with connection.cursor() as cursor:
        for scan in ("seqscan", "indexscan", "indexonlyscan"):
            cursor.execute(f"SET LOCAL enable_{scan} = off")
        # Our own constant expression; the text is a parameter.
        where = f"{SEARCH_BIGRAMS} @> applications_bigrams(%s)"
        cursor.execute(f"EXPLAIN SELECT id FROM applications_case WHERE {where}", ["张伟"])  # noqa: S608
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Bitmap Index Scan on case_search_bigrams" in plan
