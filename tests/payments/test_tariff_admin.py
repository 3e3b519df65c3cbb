"""Staff edit tariffs, versions with bands and penalty rules in the Wagtail admin (/cms-admin/):
every change is audited, and what bills already used is never changed in place."""

import datetime
import json
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import Permission
from django.urls import reverse

from payments.models import PenaltyRule, Tariff, TariffBand, TariffVersion
from portal.core import clock
from portal.models import AuditEvent
from portal.roles import SERVICE_STAFF, roles_ensure
from tests.factories import (
    PASSWORD,
    BillFactory,
    ServiceAccountFactory,
    StaffUserFactory,
    UserFactory,
    totp_enrol,
)

pytestmark = pytest.mark.django_db

D = Decimal
VERSIONS = "/cms-admin/tariff-versions/"
RULES = "/cms-admin/penalty-rules/"
TARIFFS = "/cms-admin/tariffs/"
TARIFF_PERMISSIONS = [
    f"{action}_{model}"
    for action in ("add", "change", "delete", "view")
    for model in ("tariff", "tariffversion", "penaltyrule")
]


def sign_in(client, user, secret, totp_code):
    """Password, then the authenticator code: how staff open the admin."""
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response["Location"] == reverse("mfa_authenticate")
    client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})


@pytest.fixture
def staff(client, totp_code):
    """A member of staff who may manage tariffs, signed in with two factors, reading English."""
    user = StaffUserFactory()
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="payments", codename__in=TARIFF_PERMISSIONS
        )
    )
    sign_in(client, user, totp_enrol(user), totp_code)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return user


@pytest.fixture
def tou_tariff():
    return Tariff.objects.create(code="HV-TOU-10KV", name="大工业分时", kind="time_of_use")


@pytest.fixture
def tiered_tariff():
    tariff = Tariff.objects.create(code="RES-TIER-M", name="居民阶梯（月）", kind="tiered")
    TariffVersion.objects.create(
        tariff=tariff,
        effective_from=datetime.date(2024, 1, 1),
        unit_price=D("0.4883"),
        tier_period="monthly",
        tier1_limit_kwh=D("240"),
        tier2_limit_kwh=D("400"),
    )
    return tariff


def form_fields(response, marker: str) -> dict:
    """The fields of the page's form holding a field named ``marker``, as the browser would
    submit them untouched (the empty inline-form template left out)."""
    soup = BeautifulSoup(response.content, "html.parser")
    form = next(f for f in soup.find_all("form") if f.find(attrs={"name": marker}))
    data = {}
    for field in form.find_all(["input", "select", "textarea"]):
        name = field.get("name")
        if not name or "__prefix__" in name or field.get("type") in ("submit", "button"):
            continue
        if field.name == "select":
            chosen = field.find("option", selected=True)
            data[name] = chosen["value"] if chosen else ""
        elif field.get("type") == "checkbox":
            if field.has_attr("checked"):
                data[name] = field.get("value", "on")
        elif field.name == "textarea":
            data[name] = field.text
        else:
            data[name] = field.get("value", "")
    return data


def with_bands(data: dict, bands: list[tuple[str, str, str]]) -> dict:
    """Add new inline band forms, as pressing "Add band" does."""
    start = int(data["bands-TOTAL_FORMS"])
    for i, (code, label, price) in enumerate(bands, start=start):
        data |= {
            f"bands-{i}-code": code,
            f"bands-{i}-label": label,
            f"bands-{i}-unit_price": price,
            f"bands-{i}-hours": "",
            f"bands-{i}-sort_order": str(i),
            f"bands-{i}-id": "",
        }
    data["bands-TOTAL_FORMS"] = str(start + len(bands))
    return data


def messages_on(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def test_staff_add_a_time_of_use_version_with_bands_and_it_is_audited(client, staff, tou_tariff):
    data = form_fields(client.get(VERSIONS + "new/"), "effective_from")
    data |= {
        "tariff": str(tou_tariff.pk),
        "effective_from": "2026-01-01",
        "source": "发改价格 2025 号",
    }
    data = with_bands(
        data, [("peak", "峰", "1.05"), ("flat", "平", "0.65"), ("valley", "谷", "0.3")]
    )

    response = client.post(VERSIONS + "new/", data)

    assert response.status_code == 302, response.content.decode()[:2000]
    version = TariffVersion.objects.get(tariff=tou_tariff)
    assert version.effective_from == datetime.date(2026, 1, 1)
    assert [(b.code, b.label, b.unit_price) for b in version.bands.order_by("sort_order")] == [
        ("peak", "峰", D("1.05")),
        ("flat", "平", D("0.65")),
        ("valley", "谷", D("0.3")),
    ]
    (event,) = AuditEvent.objects.filter(action="tariffs.version_created")
    assert event.actor_id == staff.pk
    assert event.object_ref == f"payments.tariffversion:{version.pk}"
    assert '"valley"' in event.data and '"2026-01-01"' in event.data


def test_an_incomplete_version_is_refused_with_the_reason(client, staff, tou_tariff):
    tiered = Tariff.objects.create(code="RES-TIER-Y", name="居民阶梯（年）", kind="tiered")
    data = form_fields(client.get(VERSIONS + "new/"), "effective_from")

    no_thresholds = client.post(
        VERSIONS + "new/",
        data | {"tariff": str(tiered.pk), "effective_from": "2026-01-01", "unit_price": "0.617"},
    )
    no_bands = client.post(
        VERSIONS + "new/", data | {"tariff": str(tou_tariff.pk), "effective_from": "2026-01-01"}
    )

    assert no_thresholds.status_code == 200
    assert b"Say whether the thresholds are monthly or yearly." in no_thresholds.content
    assert b"A tiered tariff needs both thresholds." in no_thresholds.content
    assert no_bands.status_code == 200
    assert b"A time-of-use tariff needs at least one band." in no_bands.content
    assert not TariffVersion.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="tariffs.").exists()


def test_a_version_bills_were_priced_with_cannot_be_edited_or_deleted(client, staff, tiered_tariff):
    version = tiered_tariff.versions.get()
    BillFactory(account__tariff_code="RES-TIER-M")  # September 2026, priced by the 2024 version
    edit = f"{VERSIONS}edit/{version.pk}/"

    page = client.get(edit, follow=True)
    posted = client.post(edit, {"unit_price": "0.5"}, follow=True)
    deleted = client.post(f"{VERSIONS}delete/{version.pk}/", follow=True)

    for response in (page, posted, deleted):
        assert response.redirect_chain[-1][0] == VERSIONS
        assert "Bills up to 2026-09-30 were priced with RES-TIER-M @ 2024-01-01" in messages_on(
            response
        )
        assert "add a new version with a later effective date" in messages_on(response)
    version.refresh_from_db()
    assert version.unit_price == D("0.4883")
    assert not AuditEvent.objects.filter(action__startswith="tariffs.").exists()


def test_a_new_version_cannot_take_days_already_billed(client, staff, tiered_tariff):
    BillFactory(account__tariff_code="RES-TIER-M")  # 2026-09-01 … 2026-09-30
    data = form_fields(client.get(VERSIONS + "new/"), "effective_from")
    data |= {
        "tariff": str(tiered_tariff.pk),
        "unit_price": "0.4983",
        "tier_period": "monthly",
        "tier1_limit_kwh": "240",
        "tier2_limit_kwh": "400",
    }

    refused = client.post(VERSIONS + "new/", data | {"effective_from": "2026-09-15"})
    accepted = client.post(VERSIONS + "new/", data | {"effective_from": "2026-10-01"})

    assert refused.status_code == 200
    assert b"Bills up to 2026-09-30 were already priced" in refused.content
    assert accepted.status_code == 302
    assert list(tiered_tariff.versions.values_list("effective_from", flat=True)) == [
        datetime.date(2024, 1, 1),
        datetime.date(2026, 10, 1),
    ]


def test_a_version_no_bill_used_yet_can_be_corrected_and_the_change_is_audited(
    client, staff, tiered_tariff
):
    version = TariffVersion.objects.create(
        tariff=tiered_tariff,
        effective_from=datetime.date(2027, 1, 1),
        unit_price=D("0.5"),
        tier_period="monthly",
        tier1_limit_kwh=D("240"),
        tier2_limit_kwh=D("400"),
    )
    edit = f"{VERSIONS}edit/{version.pk}/"
    data = form_fields(client.get(edit), "effective_from")

    response = client.post(edit, data | {"unit_price": "0.4983"})

    assert response.status_code == 302
    version.refresh_from_db()
    assert version.unit_price == D("0.4983")
    (event,) = AuditEvent.objects.filter(action="tariffs.version_updated")
    assert event.actor_id == staff.pk
    assert '"before":{' in event.data and '"unit_price":"0.500000"' in event.data


def test_staff_delete_an_unused_version_and_it_is_audited(client, staff, tou_tariff):
    version = TariffVersion.objects.create(
        tariff=tou_tariff, effective_from=datetime.date(2027, 1, 1)
    )
    TariffBand.objects.create(version=version, code="peak", label="峰", unit_price=D("1"))

    response = client.post(f"{VERSIONS}delete/{version.pk}/")

    assert response.status_code == 302
    assert not TariffVersion.objects.exists()
    (event,) = AuditEvent.objects.filter(action="tariffs.version_deleted")
    assert event.object_ref == f"payments.tariffversion:{version.pk}"


def test_a_penalty_rule_in_force_is_never_edited_and_a_new_one_starts_after_today(client, staff):
    rule_1996 = PenaltyRule.objects.order_by("effective_from").first()  # loaded by migration
    edit = f"{RULES}edit/{rule_1996.pk}/"

    refused = client.post(edit, {"residential_rate": "0.002"}, follow=True)

    assert refused.redirect_chain[-1][0] == RULES
    assert "cannot be changed or deleted" in messages_on(refused)
    rule_1996.refresh_from_db()
    assert rule_1996.residential_rate == D("0.001")

    tomorrow = clock.today() + datetime.timedelta(days=1)
    data = form_fields(client.get(RULES + "new/"), "effective_from") | {
        "residential_rate": "0.001",
        "current_year_rate": "0.002",
        "earlier_year_rate": "0.003",
        "minimum_total": "0",
        "source": "供电营业规则（示例修订）",
    }
    backdated = client.post(RULES + "new/", data | {"effective_from": str(clock.today())})
    assert backdated.status_code == 200
    assert b"A rule must start after today" in backdated.content

    created = client.post(RULES + "new/", data | {"effective_from": tomorrow.isoformat()})
    assert created.status_code == 302
    assert PenaltyRule.objects.filter(effective_from=tomorrow, minimum_total=0).exists()
    assert AuditEvent.objects.filter(
        action="tariffs.penalty_rule_created", actor_id=staff.pk
    ).exists()


def test_staff_add_a_tariff_and_its_code_cannot_change_later(client, staff):
    flagged_account = ServiceAccountFactory(tariff_code="RES-TIER-GD", tariff_unknown=True)
    flagged_bill = BillFactory(account=flagged_account, tariff_unknown=True)
    data = form_fields(client.get(TARIFFS + "new/"), "code")
    created = client.post(
        TARIFFS + "new/",
        data
        | {"code": "RES-TIER-GD", "name": "居民阶梯（广东）", "kind": "tiered", "region": "广东"},
    )
    assert created.status_code == 302
    tariff = Tariff.objects.get(code="RES-TIER-GD")
    # The code the billing system already used is known now: its flags are gone, and the audit
    # record says how many were cleared.
    flagged_account.refresh_from_db()
    flagged_bill.refresh_from_db()
    assert not flagged_account.tariff_unknown and not flagged_bill.tariff_unknown
    created_event = AuditEvent.objects.get(action="tariffs.tariff_created")
    assert json.loads(created_event.data)["unflagged"] == {"accounts": 1, "bills": 1}
    assert "居民阶梯（广东）" in client.get(TARIFFS).content.decode()

    edit = f"{TARIFFS}edit/{tariff.pk}/"
    renamed = client.post(edit, form_fields(client.get(edit), "code") | {"code": "RES-X"})

    assert renamed.status_code == 200
    assert b"The code cannot change" in renamed.content
    assert Tariff.objects.filter(code="RES-TIER-GD").exists()


def test_service_staff_may_maintain_tariffs_and_penalty_rules(client, totp_code):
    clerk = StaffUserFactory()
    clerk.groups.add(roles_ensure()[SERVICE_STAFF])
    sign_in(client, clerk, totp_enrol(clerk), totp_code)
    for url in (TARIFFS, VERSIONS, VERSIONS + "new/", RULES, RULES + "new/"):
        assert client.get(url).status_code == 200, url


def test_customers_and_staff_without_the_permission_cannot_reach_tariffs(client, totp_code):
    customer = UserFactory()
    client.force_login(customer)
    for url in (TARIFFS, VERSIONS, VERSIONS + "new/", RULES):
        assert client.get(url).status_code == 403, url

    client.logout()
    other_staff = StaffUserFactory()
    sign_in(client, other_staff, totp_enrol(other_staff), totp_code)
    assert client.get("/cms-admin/").status_code == 200
    for url in (TARIFFS, VERSIONS, VERSIONS + "new/", RULES):
        assert client.get(url).status_code in (302, 403), url
    assert client.post(VERSIONS + "new/", {"effective_from": "2027-01-01"}).status_code in (
        302,
        403,
    )
    assert not TariffVersion.objects.exists()
