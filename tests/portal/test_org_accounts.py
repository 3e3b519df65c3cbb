"""The organisation's accounts table, its CSV export and the account page."""

import codecs
import csv
import io
import re

import pytest
from django.urls import reverse

from payments.models import Tariff
from portal.core import clock
from portal.models import AccountStatus, CustomerClass
from portal.selectors import OrgAccountQuery, org_account_summary, org_account_table
from tests.factories import (
    MemberScopeFactory,
    MembershipFactory,
    OrganisationFactory,
    OrgBindingFactory,
    ServiceAccountFactory,
    UserFactory,
    totp_enrol,
)

pytestmark = pytest.mark.django_db

QUERY_BUDGET = 15


# --- Fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def organisation():
    return OrganisationFactory(name="华北示例科技有限公司")


@pytest.fixture
def admin(organisation):
    membership = MembershipFactory(organisation=organisation, role="admin")
    totp_enrol(membership.user)  # organisation administrators must have two factors
    return membership


@pytest.fixture
def member(organisation):
    return MembershipFactory(organisation=organisation, role="member")


def bind(organisation, **account_fields):
    label = account_fields.pop("label", "")
    return OrgBindingFactory(
        organisation=organisation, account=ServiceAccountFactory(**account_fields), label=label
    )


def grant(membership, binding, **rights):
    return MemberScopeFactory(membership=membership, binding=binding, **rights)


def table_url(organisation, **params):
    url = reverse("org:accounts", kwargs={"org": organisation.uuid})
    if params:
        from urllib.parse import urlencode

        url += "?" + urlencode(params, doseq=True)
    return url


def export_url(organisation, **params):
    url = reverse("org:export", kwargs={"org": organisation.uuid})
    if params:
        from urllib.parse import urlencode

        url += "?" + urlencode(params, doseq=True)
    return url


def detail_url(binding):
    return reverse(
        "org:account", kwargs={"org": binding.organisation.uuid, "binding": binding.uuid}
    )


def numbers_on(response) -> list[str]:
    assert response.status_code == 200
    return [row.account.number for row in response.context["page"].object_list]


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


@pytest.fixture
def five(organisation):
    """Five accounts of the organisation with distinct, searchable facts."""
    facts = [
        (
            "5100000001",
            "北京星河商贸有限公司",
            "朝阳区建国路 88 号",
            "朝阳区",
            "lv_business",
            "active",
        ),
        ("5100000002", "星河物业管理公司", "海淀区学院路 30 号", "海淀区", "hv_single", "active"),
        (
            "5200000003",
            "东城图书发行中心",
            "东城区星河胡同 5 号",
            "东城区",
            "lv_business",
            "suspended",
        ),
        ("5200000004", "丰台冷链仓储", "丰台区南苑路 12 号", "丰台区", "hv_dual", "closed"),
        ("5300000005", "朝阳精密制造厂", "朝阳区酒仙桥路 4 号", "朝阳区", "hv_single", "active"),
    ]
    return [
        bind(
            organisation,
            number=number,
            holder_name=holder,
            address=address,
            district=district,
            customer_class=cls,
            status=status,
        )
        for number, holder, address, district, cls, status in facts
    ]


# --- Who sees which rows ------------------------------------------------------------------------
def test_member_with_view_on_two_of_five_accounts_sees_exactly_those_two(client, member, five):
    grant(member, five[1])
    grant(member, five[3])
    grant(member, five[4], can_view=False)  # a scope row without view shows nothing
    client.force_login(member.user)

    response = client.get(table_url(member.organisation))

    assert numbers_on(response) == ["5100000002", "5200000004"]
    assert response.context["page"].paginator.count == 2
    page = response.content.decode()
    assert "5100000002" in page and "5200000004" in page
    for hidden in ("5100000001", "5200000003", "5300000005"):
        assert hidden not in page


def test_admin_sees_every_active_account_and_no_other_organisations(
    client, admin, five, organisation
):
    ended = bind(organisation, number="5900000009")
    ended.ended_at = clock.now()
    ended.save()
    bind(OrganisationFactory(), number="5900000010")  # another organisation's
    OrgBindingFactory(  # a personal binding of one of the same accounts
        organisation=None, user=UserFactory(), account=five[0].account
    )
    client.force_login(admin.user)

    response = client.get(table_url(organisation))

    assert numbers_on(response) == [b.account.number for b in five]


def test_page_shows_the_organisation_name_and_the_members_role(client, member, five):
    grant(member, five[0])
    client.force_login(member.user)

    page = client.get(table_url(member.organisation), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "华北示例科技有限公司" in page
    assert "Your role:" in page and ">Member</span>" in page
    # Administrators' links are not offered to members.
    assert f'href="{reverse("org:members", kwargs={"org": member.organisation.uuid})}"' not in page


def test_admin_is_shown_as_administrator_with_links_to_members_and_binding(client, admin, five):
    client.force_login(admin.user)

    page = client.get(table_url(admin.organisation), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert ">Administrator</span>" in page
    assert reverse("org:members", kwargs={"org": admin.organisation.uuid}) in page
    assert reverse("org:bind", kwargs={"org": admin.organisation.uuid}) in page


def test_non_member_gets_not_found_everywhere(client, five, organisation):
    client.force_login(UserFactory())

    assert client.get(table_url(organisation)).status_code == 404
    assert client.get(export_url(organisation)).status_code == 404
    assert client.get(detail_url(five[0])).status_code == 404


def test_signed_out_visitor_is_sent_to_sign_in(client, organisation):
    response = client.get(table_url(organisation))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_another_organisations_account_is_not_found_even_for_an_admin(client, admin, five):
    theirs = bind(OrganisationFactory(), number="5900000011")
    client.force_login(admin.user)
    own_org_url_with_their_binding = reverse(
        "org:account", kwargs={"org": admin.organisation.uuid, "binding": theirs.uuid}
    )

    assert client.get(own_org_url_with_their_binding).status_code == 404
    assert client.get(detail_url(theirs)).status_code == 404  # not a member there either


def test_member_cannot_open_an_account_they_may_not_view(client, member, five):
    grant(member, five[0])
    client.force_login(member.user)

    assert client.get(detail_url(five[0])).status_code == 200
    assert client.get(detail_url(five[1])).status_code == 404


def test_an_unbound_account_is_not_found(client, admin, five):
    five[0].ended_at = clock.now()
    five[0].save()
    client.force_login(admin.user)

    assert client.get(detail_url(five[0])).status_code == 404


# --- Search, filters, sort ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("52", ["5200000003", "5200000004"]),  # account number prefix
        ("00000001", []),  # a number is matched from its start only
        ("星河", ["5100000001", "5100000002", "5200000003"]),  # holder or address contains
        ("学院路", ["5100000002"]),  # address contains
        ("冷链", ["5200000004"]),  # holder contains
        ("  朝阳精密 ", ["5300000005"]),  # surrounding spaces ignored
        ("100%", []),  # LIKE wildcards are literal
    ],
)
def test_search_matches_number_prefix_holder_or_address(client, admin, five, search, expected):
    client.force_login(admin.user)

    assert numbers_on(client.get(table_url(admin.organisation, q=search))) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"district": "朝阳区"}, ["5100000001", "5300000005"]),
        ({"customer_class": CustomerClass.HV_SINGLE}, ["5100000002", "5300000005"]),
        ({"status": AccountStatus.ACTIVE}, ["5100000001", "5100000002", "5300000005"]),
        ({"status": AccountStatus.CLOSED}, ["5200000004"]),
        ({"district": "朝阳区", "customer_class": CustomerClass.HV_SINGLE}, ["5300000005"]),
        ({"district": "朝阳区", "q": "星河"}, ["5100000001"]),
    ],
)
def test_filters_narrow_the_table(client, admin, five, params, expected):
    client.force_login(admin.user)

    assert numbers_on(client.get(table_url(admin.organisation, **params))) == expected


def test_district_choices_are_the_districts_of_the_visible_accounts(client, member, five):
    grant(member, five[0])
    grant(member, five[1])
    client.force_login(member.user)

    form = client.get(table_url(member.organisation)).context["form"]

    assert [value for value, _label in form.fields["district"].widget.choices] == [
        "",
        "朝阳区",
        "海淀区",
    ]


def test_an_invalid_filter_value_is_ignored_and_reported(client, admin, five):
    client.force_login(admin.user)

    response = client.get(table_url(admin.organisation, status="deleted", sort="phone"))

    assert len(numbers_on(response)) == 5
    assert set(response.context["form"].errors) == {"status", "sort"}


def test_a_district_without_accounts_matches_nothing_and_stays_selected(client, admin, five):
    client.force_login(admin.user)

    response = client.get(table_url(admin.organisation, district="延庆区"))

    assert numbers_on(response) == []
    assert '<option value="延庆区" selected>' in response.content.decode()


def test_without_bills_no_account_is_overdue(client, admin, five):
    """The overdue filter is on offer and, with no bill imported, matches no account (with bills:
    tests/payments/test_org_bills.py)."""
    client.force_login(admin.user)

    response = client.get(table_url(admin.organisation, overdue="on"), HTTP_ACCEPT_LANGUAGE="en")

    assert numbers_on(response) == []
    checkbox = re.search(r'<input type="checkbox" name="overdue"[^>]*>', response.content.decode())
    assert "checked" in checkbox.group(0) and "disabled" not in checkbox.group(0)
    assert not org_account_table(membership=admin, query=OrgAccountQuery(overdue=True)).exists()


@pytest.mark.parametrize(
    ("sort", "direction", "expected"),
    [
        ("number", "", ["5100000001", "5100000002", "5200000003", "5200000004", "5300000005"]),
        ("number", "desc", ["5300000005", "5200000004", "5200000003", "5100000002", "5100000001"]),
        # Chinese text sorts by code point (radical and stroke order): 东 < 丰 < 北 < 星 < 朝
        ("holder", "", ["5200000003", "5200000004", "5100000001", "5100000002", "5300000005"]),
        ("holder", "desc", ["5300000005", "5100000002", "5100000001", "5200000004", "5200000003"]),
        # Ties are broken by the account number, ascending, whatever the direction.
        ("district", "", ["5200000003", "5200000004", "5100000001", "5300000005", "5100000002"]),
        (
            "district",
            "desc",
            ["5100000002", "5100000001", "5300000005", "5200000004", "5200000003"],
        ),
        # Classes group by their code: hv_dual, hv_single, lv_business.
        ("class", "", ["5200000004", "5100000002", "5300000005", "5100000001", "5200000003"]),
        ("status", "desc", ["5200000003", "5200000004", "5100000001", "5100000002", "5300000005"]),
        # Anything not whitelisted sorts by number.
        (
            "account__phone",
            "",
            ["5100000001", "5100000002", "5200000003", "5200000004", "5300000005"],
        ),
        (
            "number",
            "sideways",
            ["5100000001", "5100000002", "5200000003", "5200000004", "5300000005"],
        ),
    ],
)
def test_sort_by_whitelisted_columns_in_either_direction(
    client, admin, five, sort, direction, expected
):
    client.force_login(admin.user)

    response = client.get(table_url(admin.organisation, sort=sort, dir=direction))

    assert numbers_on(response) == expected


def test_column_headings_link_to_sorting_and_keep_the_filters(client, admin, five):
    client.force_login(admin.user)

    page = client.get(
        table_url(admin.organisation, district="朝阳区", sort="holder", page="1")
    ).content.decode()

    # The sorted column flips; another column sorts ascending; the page number is dropped.
    assert 'aria-sort="ascending"' in page
    assert "?district=%E6%9C%9D%E9%98%B3%E5%8C%BA&amp;sort=holder&amp;dir=desc" in page
    assert "?district=%E6%9C%9D%E9%98%B3%E5%8C%BA&amp;sort=status" in page


# --- Pages --------------------------------------------------------------------------------------
def test_pages_of_fifty_with_links_and_the_total(client, admin, organisation):
    for i in range(120):
        bind(organisation, number=f"61{i:08d}")
    client.force_login(admin.user)

    first = client.get(table_url(organisation, district="朝阳区"), HTTP_ACCEPT_LANGUAGE="en")
    last = client.get(table_url(organisation, district="朝阳区", page=3))
    beyond = client.get(table_url(organisation, page=99))

    assert numbers_on(first) == [f"61{i:08d}" for i in range(50)]
    assert numbers_on(last) == [f"61{i:08d}" for i in range(100, 120)]
    assert numbers_on(beyond) == numbers_on(last)
    page = first.content.decode()
    assert "120 accounts · showing 1–50" in page
    assert "?district=%E6%9C%9D%E9%98%B3%E5%8C%BA&amp;page=2" in page
    assert "?district=%E6%9C%9D%E9%98%B3%E5%8C%BA&amp;page=3" in page
    assert 'rel="next"' in page


def test_pages_of_a_sorted_table_neither_overlap_nor_skip(client, member, organisation):
    holders = ["丙公司", "甲公司", "乙公司"]
    for i in range(110):
        binding = bind(organisation, number=f"62{i:08d}", holder_name=holders[i % 3])
        if i % 11:  # the member sees 100 of them
            grant(member, binding)
    client.force_login(member.user)

    pages = [
        numbers_on(client.get(table_url(organisation, sort="holder", dir="desc", page=n)))
        for n in (1, 2)
    ]

    visible = [(holders[i % 3], f"62{i:08d}") for i in range(110) if i % 11]
    expected = [n for _h, n in sorted(visible, key=lambda hn: hn[1])]
    expected.sort(key=lambda n: holders[int(n[2:]) % 3], reverse=True)  # stable: numbers stay up
    assert [len(p) for p in pages] == [50, 50]
    assert pages[0] + pages[1] == expected


def test_select_all_ticks_every_row_of_the_page(client, admin, five):
    client.force_login(admin.user)

    plain = client.get(table_url(admin.organisation)).content.decode()
    ticked = client.get(table_url(admin.organisation, select="page")).content.decode()

    assert plain.count('name="binding"') == 5
    assert " checked" not in plain.split("<tbody>")[1]
    assert ticked.split("<tbody>")[1].count(" checked") == 5


# --- Export -------------------------------------------------------------------------------------
def test_export_holds_exactly_the_filtered_rows_with_a_bom(client, admin, five):
    client.force_login(admin.user)

    response = client.get(
        export_url(admin.organisation, district="朝阳区", sort="number", dir="desc"),
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="accounts-')
    header, *rows = csv_rows(response)
    assert header[:3] == ["Account number", "Label", "Holder"]
    assert [row[0] for row in rows] == ["5300000005", "5100000001"]
    assert rows[1][2:7] == [
        "北京星河商贸有限公司",
        "朝阳区建国路 88 号",
        "朝阳区",
        "Low-voltage business",
        "Active",
    ]


def test_export_of_a_member_holds_only_the_accounts_they_may_view(client, member, five):
    grant(member, five[2])
    client.force_login(member.user)

    _header, *rows = csv_rows(client.get(export_url(member.organisation)))

    assert [row[0] for row in rows] == ["5200000003"]


def test_export_neutralises_cells_that_a_spreadsheet_would_run_as_formulas(
    client, admin, organisation
):
    bind(
        organisation,
        number="7100000001",
        label='=HYPERLINK("http://evil.example")',
        holder_name="+SUM(1,2)",
        address="-2+3",
        district="@cmd",
    )
    bind(organisation, number="7100000002", holder_name="普通 = 文本", address="\tTAB")
    client.force_login(admin.user)

    _header, first, second = csv_rows(client.get(export_url(organisation)))

    assert first[1:5] == ['\'=HYPERLINK("http://evil.example")', "'+SUM(1,2)", "'-2+3", "'@cmd"]
    assert second[2:4] == ["普通 = 文本", "'\tTAB"]


def test_export_selected_holds_only_the_ticked_rows_of_this_organisation(client, admin, five):
    theirs = bind(OrganisationFactory(), number="5900000012")
    client.force_login(admin.user)

    response = client.get(
        export_url(admin.organisation, binding=[five[4].uuid, five[0].uuid, theirs.uuid])
    )

    _header, *rows = csv_rows(response)
    assert [row[0] for row in rows] == ["5100000001", "5300000005"]


def test_export_refuses_a_malformed_selection(client, admin, five):
    client.force_login(admin.user)

    assert client.get(export_url(admin.organisation, binding="not-a-uuid")).status_code == 400


def test_export_of_nothing_is_just_the_header(client, admin, five):
    client.force_login(admin.user)

    assert len(csv_rows(client.get(export_url(admin.organisation, q="no such thing")))) == 1


# --- The account page ---------------------------------------------------------------------------
def test_account_page_shows_the_account_with_the_phone_masked(client, member, five):
    binding = five[0]
    binding.label = "总部"
    binding.save()
    account = binding.account
    account.phone = "+8613912345678"
    account.save()
    Tariff.objects.create(code=account.tariff_code, name="一般工商业单一制")
    grant(member, binding)
    client.force_login(member.user)

    page = client.get(detail_url(binding), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    for shown in (
        "总部",
        "5100000001",
        "北京星河商贸有限公司",
        "139****5678",
        "朝阳区建国路 88 号",
    ):
        assert shown in page
    assert "Low-voltage business" in page and "Active" in page
    assert "一般工商业单一制" in page and account.tariff_code in page
    assert "13912345678" not in page


@pytest.mark.parametrize(
    ("rights", "offered"),
    [({}, False), ({"can_pay": True}, False), ({"can_manage": True}, True)],
)
def test_unbind_is_offered_only_with_the_manage_scope(client, member, five, rights, offered):
    grant(member, five[0], **rights)
    client.force_login(member.user)
    unbind = reverse(
        "org:unbind", kwargs={"org": member.organisation.uuid, "binding": five[0].uuid}
    )

    page = client.get(detail_url(five[0])).content.decode()

    assert (f'action="{unbind}"' in page) is offered


def test_admin_is_offered_unbind(client, admin, five):
    client.force_login(admin.user)
    unbind = reverse("org:unbind", kwargs={"org": admin.organisation.uuid, "binding": five[0].uuid})

    assert f'action="{unbind}"' in client.get(detail_url(five[0])).content.decode()


def test_the_table_links_each_row_to_its_account_page(client, admin, five):
    client.force_login(admin.user)

    page = client.get(table_url(admin.organisation)).content.decode()

    for binding in five:
        assert f'href="{detail_url(binding)}"' in page


# --- Query budget -------------------------------------------------------------------------------
@pytest.mark.parametrize("accounts", [10, 200])
@pytest.mark.parametrize("role", ["admin", "member"])
def test_the_table_costs_a_bounded_number_of_queries(
    client, django_assert_max_num_queries, organisation, admin, member, role, accounts
):
    membership = admin if role == "admin" else member
    for i in range(accounts):
        binding = bind(organisation, number=f"81{i:08d}", district=f"区{i % 7}")
        if role == "member" and i % 2 == 0:
            grant(membership, binding, can_pay=True)
    client.force_login(membership.user)
    # The first request of a session records it for allauth's "signed-in devices" (a one-off
    # that sign-in pays in real life): it is not part of what a page costs.
    client.get(table_url(organisation))
    visible = accounts if role == "admin" else accounts // 2
    first_visible = membership.organisation.bindings.get(account__number="8100000000")

    for params in (
        {},
        {"q": "81", "district": "区3", "sort": "holder", "dir": "desc"},
        {"page": 2},
    ):
        with django_assert_max_num_queries(QUERY_BUDGET):
            response = client.get(table_url(organisation, **params))
            assert response.status_code == 200
    with django_assert_max_num_queries(QUERY_BUDGET):
        rows = csv_rows(client.get(export_url(organisation)))
    assert len(rows) == visible + 1
    with django_assert_max_num_queries(QUERY_BUDGET):
        assert client.get(detail_url(first_visible)).status_code == 200


def test_the_summary_is_the_same_whether_the_districts_are_cached_or_not(admin, five):
    query = OrgAccountQuery(search="星河")

    cold = org_account_summary(membership=admin, query=query)
    warm = org_account_summary(membership=admin, query=query)

    assert cold == warm
    assert cold.total == 3
    assert cold.districts == ["东城区", "丰台区", "朝阳区", "海淀区"]


def test_selector_scopes_to_the_membership_and_scope(member, five):
    grant(member, five[0], can_manage=True)
    grant(member, five[1])

    rows = org_account_table(membership=member, query=OrgAccountQuery())

    assert [b.account.number for b in rows] == ["5100000001", "5100000002"]
