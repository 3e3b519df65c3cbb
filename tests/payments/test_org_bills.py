"""An organisation's bills: the list across its accounts, the statement download, and the
accounts table's overdue filter and amounts owed."""

import codecs
import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from portal.core import clock
from tests.factories import (
    BillFactory,
    MemberScopeFactory,
    MembershipFactory,
    OrganisationFactory,
    OrgBindingFactory,
    ServiceAccountFactory,
    pay,
    totp_enrol,
)

# The bills below are of 2026; the pages are read on 20 November 2026 unless a test says otherwise.
NOW = datetime(2026, 11, 20, 10, tzinfo=clock.BUSINESS_TIME_ZONE)
NEW_YEAR = datetime(2027, 1, 2, 0, 30, tzinfo=clock.BUSINESS_TIME_ZONE)
pytestmark = [pytest.mark.django_db, pytest.mark.time_machine(NOW, tick=False)]

QUERY_BUDGET = 15


@pytest.fixture
def organisation():
    return OrganisationFactory(name="华北示例科技有限公司")


@pytest.fixture
def admin(organisation):
    membership = MembershipFactory(organisation=organisation, role="admin")
    totp_enrol(membership.user)
    return membership


@pytest.fixture
def member(organisation):
    return MembershipFactory(organisation=organisation, role="member")


def bind(organisation, number, **fields):
    return OrgBindingFactory(
        organisation=organisation,
        account=ServiceAccountFactory(number=number, customer_class="lv_business", **fields),
    )


def bill(binding, number, *, month: date, amount="1000.00", due: date | None = None):
    end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return BillFactory(
        number=number,
        account=binding.account,
        period_start=month,
        period_end=end,
        issue_date=end + timedelta(days=3),
        due_date=due or end + timedelta(days=20),
        kwh=Decimal("1500"),
        amount=Decimal(amount),
    )


@pytest.fixture
def sites(organisation):
    """Three accounts; bills for September and October 2026 on the first two."""
    north = bind(organisation, "5100000001", holder_name="北京星河商贸有限公司")
    south = bind(organisation, "5100000002", holder_name="星河物业管理公司")
    east = bind(organisation, "5200000003", holder_name='=HYPERLINK("x")')
    bills = {
        "N-09": bill(north, "N-2026-09", month=date(2026, 9, 1), amount="1200.00"),
        "N-10": bill(north, "N-2026-10", month=date(2026, 10, 1), amount="1300.00"),
        "S-09": bill(south, "S-2026-09", month=date(2026, 9, 1), amount="800.00"),
        "S-10": bill(south, "S-2026-10", month=date(2026, 10, 1), amount="900.00"),
        "E-08": bill(east, "E-2026-08", month=date(2026, 8, 1), amount="50.00"),
    }
    return {"north": north, "south": south, "east": east, **bills}


def bills_url(organisation, **params):
    url = reverse("org:bills", kwargs={"org": organisation.uuid})
    return f"{url}?{urlencode(params)}" if params else url


def statement_url(organisation, **params):
    url = reverse("org:statement", kwargs={"org": organisation.uuid})
    return f"{url}?{urlencode(params)}" if params else url


def numbers_on(response) -> list[str]:
    assert response.status_code == 200
    return [b.number for b in response.context["page"].object_list]


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


# --- The list -----------------------------------------------------------------------------------
def test_an_administrator_sees_the_bills_of_every_account(client, admin, sites):
    client.force_login(admin.user)

    assert numbers_on(client.get(bills_url(admin.organisation))) == [
        "N-2026-10",
        "S-2026-10",
        "N-2026-09",
        "S-2026-09",
        "E-2026-08",
    ]


def test_a_member_sees_only_the_bills_of_accounts_they_may_view(client, member, sites):
    MemberScopeFactory(membership=member, binding=sites["south"])
    client.force_login(member.user)

    assert numbers_on(client.get(bills_url(member.organisation))) == ["S-2026-10", "S-2026-09"]
    assert client.get(reverse("bills:detail", kwargs={"bill": sites["N-09"].uuid})).status_code == (
        404
    )


def test_a_member_without_any_scope_sees_no_bill(client, member, sites):
    client.force_login(member.user)

    response = client.get(bills_url(member.organisation), HTTP_ACCEPT_LANGUAGE="en")

    assert numbers_on(response) == []
    assert "No bills for the accounts you may view yet." in response.content.decode()


def test_someone_outside_the_organisation_gets_not_found(client, sites, organisation):
    outsider = MembershipFactory(role="admin")
    totp_enrol(outsider.user)
    client.force_login(outsider.user)

    assert client.get(bills_url(organisation)).status_code == 404
    assert client.get(statement_url(organisation)).status_code == 404
    assert client.get(reverse("bills:detail", kwargs={"bill": sites["N-09"].uuid})).status_code == (
        404
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"period": "2026-09"}, ["N-2026-09", "S-2026-09"]),
        ({"period": "2026"}, ["N-2026-10", "S-2026-10", "N-2026-09", "S-2026-09", "E-2026-08"]),
        ({"period": "2025"}, []),
        ({"account": "5100000002"}, ["S-2026-10", "S-2026-09"]),
        ({"account": "51"}, ["N-2026-10", "S-2026-10", "N-2026-09", "S-2026-09"]),
        ({"account": "5100000001", "period": "2026-10"}, ["N-2026-10"]),
        ({"status": "paid"}, ["S-2026-09"]),
        ({"status": "partly_paid"}, ["N-2026-09"]),
    ],
)
def test_filters_narrow_the_list(client, admin, sites, params, expected):
    pay(sites["S-09"], "800.00", sites["S-09"].due_date)
    pay(sites["N-09"], "200.00", sites["N-09"].due_date)
    client.force_login(admin.user)

    assert numbers_on(client.get(bills_url(admin.organisation, **params))) == expected


def test_the_list_shows_what_each_bill_owes_today_with_its_penalty(client, admin, sites):
    client.force_login(admin.user)

    response = client.get(bills_url(admin.organisation, account="5200000003"))

    # A business bill of ¥50 due 2026-09-20, unpaid on 2026-11-20: 61 days at 0.2 % = ¥6.10.
    assert "¥56.10" in response.content.decode()


@pytest.mark.time_machine(NEW_YEAR, tick=False)
def test_days_after_the_year_of_the_due_date_cost_the_earlier_year_rate(client, admin, sites):
    client.force_login(admin.user)

    response = client.get(bills_url(admin.organisation, account="5200000003"))

    # The same bill on 2 January 2027 (still 1 January in UTC): the 102 days of 2026 at 0.2 %
    # (¥10.20) and the 2 days of 2027 at 0.3 % (¥0.30), as the rules count arrears of an
    # earlier year.
    assert "¥60.50" in response.content.decode()


def test_the_list_costs_a_bounded_number_of_queries(
    client, admin, organisation, django_assert_max_num_queries
):
    for i in range(30):
        binding = bind(organisation, f"61{i:08d}")
        bill(binding, f"Q-{i}", month=date(2026, 1 + i % 10, 1))
    client.force_login(admin.user)
    client.get(bills_url(organisation))

    with django_assert_max_num_queries(QUERY_BUDGET):
        assert len(numbers_on(client.get(bills_url(organisation)))) == 25
    with django_assert_max_num_queries(QUERY_BUDGET):
        assert len(csv_rows(client.get(statement_url(organisation)))) == 31


def test_an_administrator_without_two_factors_is_sent_to_set_them_up_before_a_bill(client, sites):
    admin = MembershipFactory(organisation=sites["north"].organisation, role="admin")
    client.force_login(admin.user)

    response = client.get(reverse("bills:detail", kwargs={"bill": sites["N-09"].uuid}))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_activate_totp"))


# --- The statement ------------------------------------------------------------------------------
def test_statement_holds_every_bill_of_the_period_with_its_payments(client, admin, sites):
    pay(sites["N-09"], "1200.00", sites["N-09"].due_date + timedelta(days=5))
    pay(sites["S-09"], "300.00", sites["S-09"].due_date)
    client.force_login(admin.user)

    response = client.get(statement_url(admin.organisation, **{"from": "2026-09", "to": "2026-09"}))

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="statement-202609-202609.csv"'
    header, *rows = csv_rows(response)
    assert len(header) == 10
    # 5 days × 0.2 % × ¥1,200 = ¥12.00, charged when the amount was settled and not paid yet.
    assert rows[0][:8] == [
        "N-2026-09",
        "5100000001",
        "北京星河商贸有限公司",
        "2026-09-01/2026-09-30",
        "1500.00",
        "1200.00",
        "1200.00",
        "12.00",
    ]
    assert rows[0][9] == sites["N-09"].due_date.isoformat()
    assert rows[1][:8] == [
        "S-2026-09",
        "5100000002",
        "星河物业管理公司",
        "2026-09-01/2026-09-30",
        "1500.00",
        "800.00",
        "300.00",
        "0.00",
    ]
    assert len(rows) == 2


@pytest.mark.time_machine(NEW_YEAR, tick=False)
def test_in_january_the_statement_holds_the_last_twelve_months(client, admin, sites):
    bill(sites["north"], "N-2026-12", month=date(2026, 12, 1))
    bill(sites["north"], "N-2026-01", month=date(2026, 1, 1))
    client.force_login(admin.user)

    response = client.get(statement_url(admin.organisation))

    assert response["Content-Disposition"] == 'attachment; filename="statement-202602-202701.csv"'
    _header, *rows = csv_rows(response)
    assert [row[0] for row in rows] == [
        "E-2026-08",
        "N-2026-09",
        "S-2026-09",
        "N-2026-10",
        "S-2026-10",
        "N-2026-12",
    ]


def test_statement_headers_and_statuses_are_in_the_readers_language(client, admin, sites):
    pay(sites["N-09"], "1200.00", sites["N-09"].due_date)
    client.force_login(admin.user)

    header, *rows = csv_rows(
        client.get(
            statement_url(admin.organisation, **{"from": "2026-09", "to": "2026-09"}),
            HTTP_ACCEPT_LANGUAGE="en",
        )
    )

    assert header == [
        "Bill number",
        "Account number",
        "Holder",
        "Period",
        "Consumption (kWh)",
        "Amount (yuan)",
        "Paid (yuan)",
        "Penalty charged (yuan)",
        "Status",
        "Due date",
    ]
    assert [row[8] for row in rows] == ["Paid", "Unpaid"]


def test_statement_neutralises_formulas_and_holds_only_what_the_member_may_view(
    client, member, sites
):
    MemberScopeFactory(membership=member, binding=sites["east"])
    client.force_login(member.user)

    _header, *rows = csv_rows(client.get(statement_url(member.organisation, **{"from": "2026-01"})))

    assert [row[0] for row in rows] == ["E-2026-08"]
    assert rows[0][2] == '\'=HYPERLINK("x")'


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-13"},
        {"from": "September"},
        {"from": "2026-10", "to": "2026-09"},
        {"from": "2020-01", "to": "2026-12"},
    ],
)
def test_statement_refuses_a_bad_period(client, admin, sites, params):
    client.force_login(admin.user)

    assert client.get(statement_url(admin.organisation, **params)).status_code == 400


# --- The accounts table: overdue and owed ------------------------------------------------------
def test_the_accounts_table_shows_amounts_owed_and_filters_the_overdue(client, admin, sites):
    # North: September partly paid (¥1,000 still owed) and overdue, October not yet due.
    # South: both paid. East: its August bill overdue.
    today = clock.today()
    pay(sites["N-09"], "200.00", sites["N-09"].due_date)
    for key in ("S-09", "S-10"):
        pay(sites[key], sites[key].amount, sites[key].due_date)
    sites["N-10"].due_date = today + timedelta(days=3)
    sites["N-10"].save()
    client.force_login(admin.user)
    url = reverse("org:accounts", kwargs={"org": admin.organisation.uuid})

    response = client.get(url)
    rows = {row.account.number: row for row in response.context["page"].object_list}
    assert rows["5100000001"].amount_owed == Decimal("2300.00")
    assert rows["5100000001"].is_overdue
    assert rows["5100000002"].amount_owed == Decimal("0.00")
    assert not rows["5100000002"].is_overdue
    assert rows["5200000003"].is_overdue
    assert "¥2,300.00" in response.content.decode()

    overdue = client.get(url, {"overdue": "on"})
    assert [row.account.number for row in overdue.context["page"].object_list] == [
        "5100000001",
        "5200000003",
    ]
    # The filter is kept in the page and export links.
    assert "overdue=on" in overdue.content.decode()
    export = client.get(
        reverse("org:export", kwargs={"org": admin.organisation.uuid}),
        {"overdue": "on"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    header, *lines = csv_rows(export)
    assert header[-2:] == ["Unpaid amount (yuan, without penalty)", "Overdue"]
    assert [(line[0], line[-2], line[-1]) for line in lines] == [
        ("5100000001", "2300.00", "yes"),
        ("5200000003", "50.00", "yes"),
    ]


def test_a_bill_due_today_is_not_overdue(client, admin, organisation):
    binding = bind(organisation, "5300000009")
    bill(binding, "T-1", month=date(2026, 9, 1), due=clock.today())
    client.force_login(admin.user)

    response = client.get(
        reverse("org:accounts", kwargs={"org": organisation.uuid}), {"overdue": "on"}
    )

    assert response.context["page"].object_list == []


def test_the_accounts_table_links_each_account_to_its_bills(client, admin, sites):
    client.force_login(admin.user)

    page = client.get(reverse("org:accounts", kwargs={"org": admin.organisation.uuid})).content
    assert f"{bills_url(admin.organisation)}?account=5100000001".encode() in page
