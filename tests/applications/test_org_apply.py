"""Applying for an organisation: a member chooses one of the organisation's accounts they hold
the apply scope on (administrators: any), or none for a new connection; the case is the
organisation's. Its administrators and the members with the scope see it; a member without the
scope, another person, and someone who bound the same account personally get "not found"."""

import pytest
from django.urls import reverse

from applications.cases import case_create, case_submit
from applications.kinds import documents_for, kind_versions_current
from applications.models import Case, CaseStatus
from tests.applications.documents import png_bytes, upload, with_required_documents
from tests.factories import (
    BindingFactory,
    MemberScopeFactory,
    MembershipFactory,
    OrganisationFactory,
    OrgBindingFactory,
    ServiceAccountFactory,
    UserFactory,
    totp_enrol,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sgcc_2011(settings):
    settings.COMMITMENT_RULE_SET = "sgcc-2011"


@pytest.fixture
def org():
    """An organisation with two accounts; an administrator (with two factors); a member who may
    apply on the shop only (and view the factory); a member who may only view the shop."""
    organisation = OrganisationFactory(name="华北示例科技有限公司")
    shop = OrgBindingFactory(
        organisation=organisation,
        label="门店",
        account=ServiceAccountFactory(number="5200000101", customer_class="lv_business"),
    )
    factory = OrgBindingFactory(
        organisation=organisation,
        label="工厂",
        account=ServiceAccountFactory(number="5200000102", customer_class="hv_single"),
    )
    admin = MembershipFactory(organisation=organisation, role="admin")
    totp_enrol(admin.user)
    applier = MembershipFactory(organisation=organisation)
    MemberScopeFactory(membership=applier, binding=shop, can_apply=True)
    MemberScopeFactory(membership=applier, binding=factory)
    viewer = MembershipFactory(organisation=organisation)
    MemberScopeFactory(membership=viewer, binding=shop, can_pay=True)
    return {
        "organisation": organisation,
        "shop": shop,
        "factory": factory,
        "admin": admin.user,
        "applier": applier.user,
        "viewer": viewer.user,
    }


def org_case(org, *, binding=None, applicant=None) -> Case:
    account = binding.account if binding else None
    return case_create(
        version=kind_versions_current()["capacity_increase" if account else "new_connection"],
        customer_class=account.customer_class if account else "lv_business",
        applicant=applicant or org["admin"],
        organisation=org["organisation"],
        account=account,
        details={"address": account.address if account else "示例产业园 9 号楼"},
    )


def start_url(org) -> str:
    return reverse("org:application_start", kwargs={"org": org["organisation"].uuid})


def list_url(org) -> str:
    return reverse("org:applications", kwargs={"org": org["organisation"].uuid})


def test_a_member_applies_for_an_account_they_hold_the_apply_scope_on(client, org):
    client.force_login(org["applier"])
    query = {"kind": "capacity_increase", "customer_class": "lv_business"}

    page = client.get(start_url(org), query).content.decode()

    assert str(org["shop"].uuid) in page and "门店" in page
    assert str(org["factory"].uuid) not in page  # view only: not offered
    response = client.post(start_url(org), {**query, "account": str(org["shop"].uuid)})

    case = Case.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("applications:draft", kwargs={"uuid": case.uuid})
    assert case.organisation == org["organisation"]
    assert case.applicant == org["applier"]
    assert case.account == org["shop"].account
    assert case.address == org["shop"].account.address
    # The organisation's list shows it; the person's own list does not.
    assert case.reference in client.get(list_url(org)).content.decode()
    assert case.reference not in client.get(reverse("applications:list")).content.decode()


def test_an_account_without_the_apply_scope_is_refused_and_nothing_is_created(client, org):
    client.force_login(org["applier"])

    response = client.post(
        start_url(org),
        {
            "kind": "capacity_increase",
            "customer_class": "hv_single",
            "account": str(org["factory"].uuid),
        },
    )

    assert response.status_code == 200
    assert "account" in response.context["form"].errors
    assert not Case.objects.exists()


def test_a_member_who_may_apply_starts_a_new_connection_without_an_account(client, org):
    client.force_login(org["applier"])

    client.post(start_url(org), {"kind": "new_connection", "customer_class": "lv_business"})

    case = Case.objects.get()
    assert case.organisation == org["organisation"] and case.account is None
    assert case.customer_class == "lv_business"


def test_a_member_without_the_apply_scope_is_told_so_and_shown_no_form(client, org):
    org_case(org, binding=org["shop"])
    client.force_login(org["viewer"])

    page = client.get(start_url(org), {"kind": "new_connection"})
    posted = client.post(
        start_url(org), {"kind": "new_connection", "customer_class": "lv_business"}
    )

    assert page.status_code == 200
    text = page.content.decode()
    assert "data-apply-refused" in text and 'name="kind"' not in text
    assert "data-apply-refused" in posted.content.decode()
    assert Case.objects.count() == 1
    listing = client.get(list_url(org)).content.decode()
    assert "data-apply-refused" in listing and "5200000101" not in listing


def test_who_sees_which_of_the_organisations_cases(client, org):
    on_shop = org_case(org, binding=org["shop"])
    on_factory = org_case(org, binding=org["factory"])
    no_account = org_case(org)

    def visible(user) -> set[str]:
        client.force_login(user)
        text = client.get(list_url(org)).content.decode()
        seen = {c.reference for c in (on_shop, on_factory, no_account) if c.reference in text}
        for case in (on_shop, on_factory, no_account):
            detail = client.get(reverse("applications:detail", kwargs={"uuid": case.uuid}))
            assert (detail.status_code != 404) == (case.reference in seen), (user, case)
        return seen

    assert visible(org["admin"]) == {on_shop.reference, on_factory.reference, no_account.reference}
    assert visible(org["applier"]) == {on_shop.reference, no_account.reference}
    assert visible(org["viewer"]) == set()


def test_another_person_and_a_personal_binder_of_the_account_get_not_found(client, org):
    case = case_submit(case=with_required_documents(org_case(org, binding=org["shop"])), actor=None)
    document = case.documents.first()
    personal = BindingFactory(account=org["shop"].account)  # the same account, bound personally

    for user in (UserFactory(), personal.user, org["viewer"]):
        client.force_login(user)
        urls = [
            reverse("applications:detail", kwargs={"uuid": case.uuid}),
            reverse("applications:document", kwargs={"uuid": case.uuid, "document": document.uuid}),
        ]
        for url in urls:
            assert client.get(url).status_code == 404, (user, url)
        assert (
            client.post(reverse("applications:withdraw", kwargs={"uuid": case.uuid})).status_code
            == 404
        )
        assert case.reference not in client.get(reverse("applications:list")).content.decode()
    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED


def test_the_applicant_fills_uploads_and_submits_the_organisations_case(client, org):
    client.force_login(org["applier"])
    case = org_case(org, binding=org["shop"], applicant=org["applier"])
    draft = reverse("applications:draft", kwargs={"uuid": case.uuid})

    page = client.get(draft).content.decode()
    assert list_url(org) in page  # back to the organisation's list
    client.post(
        draft,
        {
            "contact_name": "周会计",
            "contact_phone": "+8613900139001",
            "address": "示例产业园 1 号楼",
            "district": "朝阳区",
            "capacity_kva": "200",
            "loads": "空调, 30 kW",
        },
    )
    needed = documents_for(version=case.kind_version, customer_class=case.customer_class)
    for doc in needed:
        response = client.post(
            reverse("applications:upload", kwargs={"uuid": case.uuid}),
            {
                "document": doc.document,
                "file": upload(f"{doc.document}.png", png_bytes(), "image/png"),
            },
        )
        assert response.status_code == 302
    client.post(reverse("applications:review", kwargs={"uuid": case.uuid}))

    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED
    assert case.documents.count() == len(needed)
    # The administrator sees it.
    client.force_login(org["admin"])
    assert client.get(reverse("applications:detail", kwargs={"uuid": case.uuid})).status_code == 200


def test_losing_the_scope_ends_the_applicants_view_of_the_case(client, org):
    case = org_case(org, binding=org["shop"], applicant=org["applier"])
    client.force_login(org["applier"])
    assert client.get(reverse("applications:draft", kwargs={"uuid": case.uuid})).status_code == 200

    org["shop"].member_scopes.filter(membership__user=org["applier"]).update(can_apply=False)

    assert client.get(reverse("applications:draft", kwargs={"uuid": case.uuid})).status_code == 404


def test_an_administrator_without_two_factors_is_sent_to_set_them_up(client, org):
    case = org_case(org, binding=org["shop"])
    admin = MembershipFactory(organisation=org["organisation"], role="admin").user
    client.force_login(admin)

    response = client.get(reverse("applications:detail", kwargs={"uuid": case.uuid}))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_activate_totp"))
