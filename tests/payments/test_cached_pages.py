"""The per-person fragment cache (portal/fragments.py): the bill list's table and the dashboard's
cards come from it, and never show anything stale. Each test first opens the pages (so their
fragments are cached), then changes what they show the way the portal does, then opens them
again. Both databases (and Redis as the cache when REDIS_URL is set)."""

import io
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse

from payments.bill_import import BILL_COLUMNS, bills_import
from payments.models import Bill, PaymentAttempt
from portal import fragments
from portal.binding import binding_end
from portal.core import clock
from portal.organisations import member_scopes_set
from tests.factories import (
    BillFactory,
    BindingFactory,
    MemberScopeFactory,
    MembershipFactory,
    OrgBindingFactory,
    UserFactory,
    pay,
)

pytestmark = pytest.mark.django_db
D = Decimal
MORNING = datetime(2026, 12, 7, 9, 0, tzinfo=clock.BUSINESS_TIME_ZONE)


def page_text(response) -> str:
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    html = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def get(client, url, language="en", **params):
    return client.get(url, params, HTTP_ACCEPT_LANGUAGE=language)


def bill_list(client, language="en") -> str:
    return page_text(get(client, reverse("me:bills"), language))


def dashboard(client, language="en") -> str:
    return page_text(get(client, reverse("me:dashboard"), language))


def row_of(text: str, number: str) -> str:
    """Bill ``number``'s row in the bill list's text, after the number."""
    found = re.search(rf"{number} (.*?)(?= B-| “Owed today”)", text)
    assert found, text
    return found.group(1)


@pytest.fixture
def customer():
    return UserFactory()


@pytest.fixture
def home(customer):
    """A residential account with a bill overdue since 2026-10-20 and one due on 2026-12-17."""
    binding = BindingFactory(user=customer, label="Home")
    account = binding.account
    account.customer_class = "residential"
    account.save(update_fields=["customer_class"])
    BillFactory(account=account, number="B-OVERDUE", amount=D("110.00"))
    BillFactory(
        account=account,
        number="B-OCTOBER",
        amount=D("250.50"),
        period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31),
        issue_date=date(2026, 11, 5),
        due_date=date(2026, 12, 17),
    )
    return binding


@pytest.fixture
def signed_in(client, customer):
    client.force_login(customer)
    return client


def warm(client):
    """Open both pages twice: the second time from the cache."""
    for _ in range(2):
        bill_list(client)
        dashboard(client)


@pytest.mark.time_machine(MORNING, tick=False)
def test_a_payment_through_the_local_gateway_shows_at_once(signed_in, home):
    warm(signed_in)
    before = bill_list(signed_in)
    assert row_of(before, "B-OVERDUE").endswith("Overdue ¥115.28 incl. penalty ¥5.28")  # 48 days
    assert "Amount owed ¥365.78 Overdue" in dashboard(signed_in)

    overdue = Bill.objects.get(number="B-OVERDUE")
    response = signed_in.post(
        reverse("pay:bills"), {"bill": [str(overdue.uuid)]}, HTTP_ACCEPT_LANGUAGE="en"
    )
    attempt = PaymentAttempt.objects.get(uuid=response["Location"].split("/")[2])
    signed_in.post(
        reverse("pay:test_gateway", kwargs={"attempt": attempt.uuid}), {"outcome": "succeed"}
    )

    after = bill_list(signed_in)
    number = home.account.number
    assert row_of(after, "B-OVERDUE") == f"Home {number} 2026-09 200 kWh ¥110.00 2026-10-20 Paid —"
    assert row_of(after, "B-OCTOBER").endswith("2026-12-17 Unpaid ¥250.50")
    text = dashboard(signed_in)
    assert "Amount owed ¥250.50" in text and "Overdue" not in text


def bill_file(*rows: dict) -> bytes:
    lines = [",".join(BILL_COLUMNS)]
    lines += [",".join(str(row.get(column, "")) for column in BILL_COLUMNS) for row in rows]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.time_machine(MORNING, tick=False)
def test_a_newly_imported_bill_shows_at_once(signed_in, home):
    warm(signed_in)
    assert "B-NOVEMBER" not in bill_list(signed_in)

    report = bills_import(
        stream=io.BytesIO(
            bill_file(
                {
                    "bill_number": "B-NOVEMBER",
                    "account_number": home.account.number,
                    "period_start": "2026-11-01",
                    "period_end": "2026-11-30",
                    "issue_date": "2026-12-05",
                    "due_date": "2026-12-20",
                    "kwh": "180",
                    "amount": "87.89",
                    "tariff_code": home.account.tariff_code,
                }
            )
        ),
        fmt="csv",
        file_name="bills.csv",
    )
    assert report.created == 1, report

    assert row_of(bill_list(signed_in), "B-NOVEMBER").endswith(
        "2026-11 180 kWh ¥87.89 2026-12-20 Unpaid ¥87.89"
    )
    text = dashboard(signed_in)
    assert "Latest bill 2026-11: ¥87.89" in text
    assert "Amount owed ¥453.67" in text  # 115.28 + 250.50 + 87.89


@pytest.mark.time_machine(MORNING, tick=False)
def test_unbinding_removes_the_account_at_once(signed_in, customer, home):
    shop = BindingFactory(user=customer, label="Shop")
    BillFactory(account=shop.account, number="B-SHOP")
    warm(signed_in)
    assert "B-SHOP" in bill_list(signed_in) and "Shop" in dashboard(signed_in)

    binding_end(user=customer, binding=shop)

    assert "B-SHOP" not in bill_list(signed_in)
    text = dashboard(signed_in)
    assert "Shop" not in text and shop.account.number not in text
    assert "B-OVERDUE" in bill_list(signed_in)


def test_a_colleague_whose_scopes_change_sees_it_at_once(client):
    admin = MembershipFactory(role="admin")
    organisation = admin.organisation
    seen = MemberScopeFactory(membership__organisation=organisation)
    member = seen.membership
    hidden = OrgBindingFactory(organisation=organisation)
    BillFactory(account=seen.binding.account, number="B-SEEN")
    BillFactory(account=hidden.account, number="B-HIDDEN")
    client.force_login(member.user)
    accounts = reverse("org:accounts", kwargs={"org": organisation.uuid})
    bills = reverse("org:bills", kwargs={"org": organisation.uuid})
    for _ in range(2):
        assert hidden.account.number not in page_text(get(client, accounts))
        assert "B-HIDDEN" not in page_text(get(client, bills))

    member_scopes_set(by=admin, member=member, grants={hidden.uuid: {"view"}})

    assert hidden.account.number in page_text(get(client, accounts))
    assert "B-HIDDEN" in page_text(get(client, bills))

    member_scopes_set(by=admin, member=member, grants={seen.binding.uuid: set()})

    assert seen.binding.account.number not in page_text(get(client, accounts))
    assert "B-SEEN" not in page_text(get(client, bills))


@pytest.mark.time_machine(MORNING, tick=False)
def test_english_and_chinese_never_mix(signed_in, home):
    for _ in range(2):
        chinese_list, english_list = bill_list(signed_in, "zh-hans"), bill_list(signed_in)
        chinese_cards, english_cards = dashboard(signed_in, "zh-hans"), dashboard(signed_in)
        assert "今日应缴" in chinese_list and "Owed today" not in chinese_list
        assert "Owed today" in english_list and "今日应缴" not in english_list
        assert "应缴金额" in chinese_cards and "Amount owed" not in chinese_cards
        assert "Amount owed" in english_cards and "应缴金额" not in english_cards


def test_the_next_business_day_recomputes_the_penalty(signed_in, home):
    # 23:59 and 00:01 Beijing time: one business day later, two minutes apart.
    late = datetime(2026, 12, 7, 23, 59, tzinfo=clock.BUSINESS_TIME_ZONE)
    with time_machine.travel(late, tick=False):
        warm(signed_in)
        assert row_of(bill_list(signed_in), "B-OVERDUE").endswith("¥115.28 incl. penalty ¥5.28")
        assert "Amount owed ¥365.78" in dashboard(signed_in)
    with time_machine.travel(late + timedelta(minutes=2), tick=False):
        # 49 days
        assert row_of(bill_list(signed_in), "B-OVERDUE").endswith("¥115.39 incl. penalty ¥5.39")
        assert "Amount owed ¥365.89" in dashboard(signed_in)


@pytest.mark.time_machine(MORNING, tick=False)
def test_a_change_made_by_another_process_is_never_served_stale(signed_in, home):
    """The writer does not touch the cache (here it cannot even reach it, as another process
    with its own memory cache could not): the account's version in the database is what moves
    the key. Clearing the cache changes nothing either."""
    warm(signed_in)
    cached_list, cached_cards = bill_list(signed_in), dashboard(signed_in)
    with override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    ):
        pay(Bill.objects.get(number="B-OCTOBER"), D("100.00"), date(2026, 12, 7))

    text = bill_list(signed_in)
    assert row_of(text, "B-OCTOBER").endswith("¥250.50 2026-12-17 Partly paid ¥150.50")
    assert "Amount owed ¥265.78" in dashboard(signed_in)

    from django.core.cache import cache

    cache.clear()
    assert bill_list(signed_in) == text
    assert bill_list(signed_in) != cached_list and dashboard(signed_in) != cached_cards


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert get(client, url).status_code == 200
    return len(queries)


@pytest.mark.time_machine(MORNING, tick=False)
def test_a_cached_page_costs_fewer_queries(signed_in, customer, home):
    for number in range(30):  # more than a page of bills, on three accounts
        BillFactory(account=home.account if number % 3 else BindingFactory(user=customer).account)
    count_queries(signed_in, reverse("me:history"))  # the first request's session work
    for url, cached_at_most in [(reverse("me:bills"), 5), (reverse("me:dashboard"), 6)]:
        fresh = count_queries(signed_in, url)
        cached = count_queries(signed_in, url)
        # Session, user, the bindings with their accounts (the key), the header's memberships;
        # the dashboard also asks for the outages, which are never cached.
        assert cached <= cached_at_most, (url, cached)
        assert cached < fresh, (url, fresh, cached)


def test_a_fragment_holding_a_csrf_token_is_never_stored(customer):
    key = fragments.fragment_key("test", user_id=customer.pk, parts=())
    html = '<form><input type="hidden" name="csrfmiddlewaretoken" value="x"></form>'
    assert fragments.fragment(key, lambda: html) == html
    assert fragments.fragment(key, lambda: "<p>again</p>") == "<p>again</p>"
