"""An organisation's monthly statement as a PDF (payments/statements.py): the bills of the
month, the money received on its accounts and the online payments made for it, with totals,
for the accounts the member may view; in Chinese, with the CJK font embedded. Read back with
poppler's pdftotext and pdffonts, as a person's PDF reader would. Runs on SQLite and on
PostgreSQL."""

import shutil
import subprocess
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from payments import checkout
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
from tests.payments.test_checkout import local_pay

pytestmark = pytest.mark.django_db

# As the organisation's bill list (tests/payments/test_org_bills.py): the signed-in request's
# own (session, user, user session), the membership and two factors, then four for the statement
# whatever the number of accounts, bills and payments.
QUERY_BUDGET = 15


@pytest.fixture(autouse=True)
def _late_november():
    """The statements are of October 2026, a month that is over."""
    with time_machine.travel(datetime(2026, 11, 27, 10, 0, tzinfo=clock.BUSINESS_TIME_ZONE)):
        yield


@pytest.fixture
def organisation():
    return OrganisationFactory(name="华北示例科技有限公司", uscc="91110105MA01ABCD6J")


@pytest.fixture
def admin(organisation):
    membership = MembershipFactory(organisation=organisation, role="admin")
    totp_enrol(membership.user)
    return membership


def bind(organisation, number, holder):
    return OrgBindingFactory(
        organisation=organisation,
        account=ServiceAccountFactory(
            number=number, holder_name=holder, customer_class="lv_business"
        ),
    )


def bill(binding, number, *, month: date, amount: str):
    end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return BillFactory(
        number=number,
        account=binding.account,
        period_start=month,
        period_end=end,
        issue_date=end + timedelta(days=3),
        due_date=end + timedelta(days=20),
        kwh=Decimal("1500"),
        amount=Decimal(amount),
    )


@pytest.fixture
def october(organisation, admin):
    """Two accounts. September's bills were paid in October: one at a counter, the other
    online by the administrator for the organisation. October's bills are unpaid."""
    north = bind(organisation, "5100000001", "北京星河商贸有限公司")
    south = bind(organisation, "5100000002", "星河物业管理公司")
    september = date(2026, 9, 1)
    north_09 = bill(north, "N-2026-09", month=september, amount="1200.00")
    south_09 = bill(south, "S-2026-09", month=september, amount="800.00")
    bill(north, "N-2026-10", month=date(2026, 10, 1), amount="1300.00")
    bill(south, "S-2026-10", month=date(2026, 10, 1), amount="900.00")
    pay(south_09, "800.00", date(2026, 10, 15), reference="CIS-PAY-1015-0001")
    with time_machine.travel(datetime(2026, 10, 18, 12, 0, tzinfo=clock.BUSINESS_TIME_ZONE)):
        attempt = checkout.attempt_create(user=admin.user, bill_uuids=[north_09.uuid])
        local_pay(attempt)
    assert attempt.status == "succeeded" and attempt.organisation == organisation
    return {"north": north, "south": south, "attempt": attempt}


def pdf_url(organisation, year=2026, month=10):
    return reverse(
        "org:statement_pdf", kwargs={"org": organisation.uuid, "year": year, "month": month}
    )


def pdf_of(response) -> bytes:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    return b"".join(response.streaming_content)


def poppler(tool: str, pdf: bytes, tmp_path, *args) -> str:
    assert shutil.which(tool), f"{tool} is missing: install poppler-utils (make setup)"
    path = tmp_path / "statement.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        [tool, *args, str(path), *(["-"] if tool == "pdftotext" else [])],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_the_statement_holds_the_months_bills_money_received_and_online_payments(
    client, admin, october, tmp_path
):
    client.force_login(admin.user)

    response = client.get(pdf_url(admin.organisation))

    assert response["Content-Disposition"] == 'attachment; filename="statement-2026-10.pdf"'
    text = poppler("pdftotext", pdf_of(response), tmp_path, "-layout")
    assert "华北示例科技有限公司" in text
    assert "91110105MA01ABCD6J" in text
    for number in ("5100000001", "5100000002", "N-2026-10", "S-2026-10"):
        assert number in text
    # September's bills are not October's bills; their payments in October are listed.
    assert "N-2026-09" in text and "S-2026-09" in text
    lines = text.splitlines()
    # Bills of the month: 1300 + 900, nothing paid yet; 3000 kWh.
    assert any("3000.00" in line and line.count("2200.00") == 2 for line in lines)
    # Money received: 800 at a counter and 1200 online.
    assert "CIS-PAY-1015-0001" in text
    assert any("2000.00" in line for line in lines)
    # The online payment, by its reference.
    assert october["attempt"].reference in text
    assert any(october["attempt"].reference in line and "1200.00" in line for line in lines)


def test_the_pdf_embeds_a_cjk_font(client, admin, october, tmp_path):
    client.force_login(admin.user)

    fonts = poppler("pdffonts", pdf_of(client.get(pdf_url(admin.organisation))), tmp_path)

    # name  type  encoding  emb sub uni  object ID  (the name may carry a subset prefix)
    rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    cjk = [row for row in rows if "WenQuanYi" in row[0] or "CJK" in row[0]]
    assert cjk, fonts
    assert all(row[-5] == "yes" for row in cjk), fonts


def test_a_member_sees_only_the_accounts_they_may_view(client, organisation, october, tmp_path):
    member = MembershipFactory(organisation=organisation)
    MemberScopeFactory(membership=member, binding=october["south"])
    client.force_login(member.user)

    text = poppler("pdftotext", pdf_of(client.get(pdf_url(organisation))), tmp_path, "-layout")

    assert "5100000002" in text and "S-2026-10" in text and "CIS-PAY-1015-0001" in text
    assert "5100000001" not in text and "N-2026-10" not in text
    # The online payment was of the other account's bill only.
    assert october["attempt"].reference not in text
    assert "1200.00" not in text


def test_a_member_who_may_view_no_account_gets_not_found(client, organisation, october):
    member = MembershipFactory(organisation=organisation)
    client.force_login(member.user)

    assert client.get(pdf_url(organisation)).status_code == 404


def test_someone_outside_the_organisation_gets_not_found(client, organisation, october):
    outsider = MembershipFactory(role="admin")
    totp_enrol(outsider.user)
    client.force_login(outsider.user)

    assert client.get(pdf_url(organisation)).status_code == 404


def test_an_administrator_without_two_factors_is_sent_to_set_them_up(client, organisation):
    admin = MembershipFactory(organisation=organisation, role="admin")
    bind(organisation, "5100000009", "某公司")
    client.force_login(admin.user)

    response = client.get(pdf_url(organisation))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_activate_totp"))


@pytest.mark.parametrize(("year", "month"), [(2026, 12), (2027, 1), (2026, 13), (2026, 0)])
def test_a_month_that_has_not_begun_or_does_not_exist_is_not_found(
    client, admin, october, year, month
):
    client.force_login(admin.user)

    assert client.get(pdf_url(admin.organisation, year, month)).status_code == 404


def test_a_month_without_anything_still_gives_a_statement(client, admin, october, tmp_path):
    client.force_login(admin.user)

    text = poppler("pdftotext", pdf_of(client.get(pdf_url(admin.organisation, 2026, 6))), tmp_path)

    assert "华北示例科技有限公司" in text
    assert "5100000001" not in text


def test_the_bill_list_links_the_months_pdf(client, admin, october):
    client.force_login(admin.user)

    listed = client.get(reverse("org:bills", kwargs={"org": admin.organisation.uuid}))
    filtered = client.get(
        reverse("org:bills", kwargs={"org": admin.organisation.uuid}), {"period": "2026-10"}
    )

    this_month = reverse(
        "org:statement_pdf", kwargs={"org": admin.organisation.uuid, "year": 2026, "month": "11"}
    )
    assert this_month in listed.content.decode()
    assert pdf_url(admin.organisation, 2026, "10") in filtered.content.decode()
    assert client.get(pdf_url(admin.organisation, 2026, "10")).status_code == 200


def test_the_statement_costs_a_bounded_number_of_queries(
    client, admin, organisation, october, django_assert_max_num_queries
):
    for i in range(30):
        binding = bind(organisation, f"61{i:08d}", f"分公司{i}")
        paid = bill(binding, f"Q-{i}-09", month=date(2026, 9, 1), amount="100.00")
        bill(binding, f"Q-{i}-10", month=date(2026, 10, 1), amount="100.00")
        pay(paid, "100.00", date(2026, 10, 10))
    client.force_login(admin.user)
    client.get(pdf_url(organisation))

    with django_assert_max_num_queries(QUERY_BUDGET):
        pdf = pdf_of(client.get(pdf_url(organisation)))

    assert pdf.startswith(b"%PDF")
