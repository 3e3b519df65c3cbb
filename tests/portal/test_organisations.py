"""Business customers: registering an organisation, roles and per-account scopes, removal, who
may open which organisation page, and the context switch in the header."""

import json

import pytest
from bs4 import BeautifulSoup
from django.http import Http404
from django.test import Client
from django.urls import reverse
from django.utils import translation
from stdnum.cn import uscc

from portal import organisations as services
from portal import selectors
from portal.binding import account_bind_with_holder
from portal.models import (
    AuditEvent,
    Binding,
    MemberRole,
    MemberScope,
    Membership,
    Organisation,
    Scope,
)
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


def valid_uscc(n: int) -> str:
    body = f"91110105{n:09d}"
    return body + uscc.calc_check_digit(body)


def signed_in(user) -> Client:
    client = Client(headers={"accept-language": "en"})
    client.force_login(user)
    return client


def admin_of(organisation, **kwargs) -> Membership:
    """An administrator who has set up two-factor authentication, as they must."""
    membership = MembershipFactory(organisation=organisation, role=MemberRole.ADMIN, **kwargs)
    totp_enrol(membership.user)
    return membership


def member_page(membership: Membership) -> str:
    return reverse(
        "org:member", kwargs={"org": membership.organisation.uuid, "membership": membership.uuid}
    )


def remove_page(membership: Membership) -> str:
    return reverse(
        "org:member_remove",
        kwargs={"org": membership.organisation.uuid, "membership": membership.uuid},
    )


def members_page(organisation) -> str:
    return reverse("org:members", kwargs={"org": organisation.uuid})


def alerts(response) -> list[str]:
    """The text of each alert on the page, as it reads (without the screen readers' "Error:")."""
    soup = BeautifulSoup(response.content, "html.parser")
    for hidden in soup.select(".alert__text .visually-hidden"):
        hidden.decompose()
    return [" ".join(p.get_text().split()) for p in soup.select(".alert__text")]


def field_errors(response, field: str) -> list[str]:
    soup = BeautifulSoup(response.content, "html.parser")
    return [li.get_text() for li in soup.select(f"#id_{field}_error li")]


def actions(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


# --- Registering an organisation ----------------------------------------------------------------
def test_customer_registers_an_organisation_and_becomes_its_administrator():
    customer = UserFactory()
    code = valid_uscc(1)
    typed = f" {code[:6]} {code[6:12]} {code[12:].lower()} "

    response = signed_in(customer).post(
        reverse("org:create"), {"name": "  华北示例  电力用户有限公司 ", "uscc": typed}
    )

    organisation = Organisation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("org:accounts", kwargs={"org": organisation.uuid})
    assert organisation.uscc == code
    assert organisation.name == "华北示例 电力用户有限公司"
    assert organisation.created_by == customer
    membership = Membership.objects.get(organisation=organisation)
    assert (membership.user, membership.role) == (customer, MemberRole.ADMIN)
    [event] = actions("organisation.created")
    assert event.actor_id == customer.pk
    assert event.object_ref == f"portal.organisation:{organisation.uuid}"


def test_full_width_characters_typed_with_a_chinese_input_method_are_accepted():
    code = valid_uscc(2)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in code)

    organisation = services.organisation_create(user=UserFactory(), name="某公司", uscc=full_width)

    assert organisation.uscc == code


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param(valid_uscc(3)[:-1] + ("0" if valid_uscc(3)[-1] != "0" else "1"), id="check"),
        pytest.param(valid_uscc(3)[:17], id="too-short"),
        pytest.param("A" + valid_uscc(3)[1:], id="letter-where-a-digit-belongs"),
        pytest.param("not a code", id="nonsense"),
    ],
)
def test_a_code_that_is_not_a_valid_uscc_is_refused(typed):
    response = signed_in(UserFactory()).post(
        reverse("org:create"), {"name": "某公司", "uscc": typed}
    )

    assert response.status_code == 200
    with translation.override("en"):
        assert field_errors(response, "uscc") == [str(services.UsccInvalid.default_message)]
    assert not Organisation.objects.exists()
    assert not actions("organisation.created")


def test_a_code_already_registered_is_refused_without_saying_who_holds_it():
    holder = UserFactory(name="王经理", email="wang@holder.example.cn")
    code = valid_uscc(4)
    services.organisation_create(user=holder, name="先注册的公司", uscc=code)

    response = signed_in(UserFactory()).post(
        reverse("org:create"), {"name": "后来的公司", "uscc": code.lower()}
    )

    assert response.status_code == 200
    errors = field_errors(response, "uscc")
    assert len(errors) == 1
    assert "already registered" in errors[0]
    assert "ask its administrator" in errors[0].lower()
    page = response.content.decode()
    for secret in ["先注册的公司", "王经理", "wang@holder.example.cn"]:
        assert secret not in page
    assert Organisation.objects.count() == 1


def test_registering_needs_a_signed_in_person():
    response = Client().get(reverse("org:create"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_accounts_bound_by_the_organisation_belong_to_it_not_to_the_administrator():
    organisation = OrganisationFactory()
    admin = admin_of(organisation)
    other_admin = admin_of(organisation)
    account = ServiceAccountFactory()

    binding = account_bind_with_holder(
        user=admin.user,
        organisation=organisation,
        number=account.number,
        holder_name=account.holder_name,
        meter_last4=account.meter_number[-4:],
    )
    services.membership_remove(by=admin, member=admin)

    binding.refresh_from_db()
    assert (binding.organisation, binding.user, binding.is_active) == (organisation, None, True)
    assert list(selectors.org_bindings_for(membership=other_admin)) == [binding]
    assert not Binding.objects.filter(user=admin.user).exists()


# --- Scopes -------------------------------------------------------------------------------------
def scopes_form(bindings, ticked: dict) -> dict:
    """The member page's form: every row on the page, and the ticked boxes."""
    data = {"action": "scopes", "binding": [str(b.uuid) for b in bindings]}
    for binding, scopes in ticked.items():
        data[f"scope-{binding.uuid}"] = list(scopes)
    return data


def test_a_member_sees_only_the_accounts_they_were_given():
    organisation = OrganisationFactory()
    given, not_given = OrgBindingFactory.create_batch(2, organisation=organisation)
    OrgBindingFactory()  # another organisation's
    member = MembershipFactory(organisation=organisation)
    MemberScopeFactory(membership=member, binding=given)

    assert list(selectors.org_bindings_for(membership=member)) == [given]
    assert not selectors.org_bindings_for(membership=member, scope=Scope.PAY).exists()
    admin = admin_of(organisation)
    assert set(selectors.org_bindings_for(membership=admin)) == {given, not_given}


def test_scopes_set_on_the_member_page_take_effect_at_once_and_are_audited():
    organisation = OrganisationFactory()
    first, second, third = OrgBindingFactory.create_batch(3, organisation=organisation)
    admin = admin_of(organisation)
    member = MembershipFactory(organisation=organisation)
    MemberScopeFactory(membership=member, binding=third)
    client = signed_in(admin.user)

    page = client.get(member_page(member))
    assert page.status_code == 200
    soup = BeautifulSoup(page.content, "html.parser")
    assert len(soup.select(f'input[name="scope-{first.uuid}"]')) == 4
    assert soup.select_one(f'input[name="scope-{third.uuid}"][value="view"]').has_attr("checked")

    response = client.post(
        member_page(member),
        scopes_form(
            [first, second, third],
            {first: ["view", "pay"], second: ["view", "apply", "manage"]},  # third: taken away
        ),
    )

    assert response.status_code == 302
    assert list(selectors.org_bindings_for(membership=member).order_by("pk")) == [first, second]
    assert list(selectors.org_bindings_for(membership=member, scope=Scope.PAY)) == [first]
    assert list(selectors.org_bindings_for(membership=member, scope=Scope.MANAGE)) == [second]
    assert not MemberScope.objects.filter(membership=member, binding=third).exists()
    [event] = actions("member.scopes_changed")
    assert event.actor_id == admin.user.pk
    assert event.object_ref == f"portal.membership:{member.uuid}"
    data = json.loads(event.data)
    assert data["before"] == {
        first.account.number: [],
        second.account.number: [],
        third.account.number: ["view"],
    }
    assert data["after"] == {
        first.account.number: ["pay", "view"],
        second.account.number: ["apply", "manage", "view"],
        third.account.number: [],
    }


def test_saving_the_same_scopes_again_changes_nothing_and_records_nothing():
    organisation = OrganisationFactory()
    binding = OrgBindingFactory(organisation=organisation)
    admin = admin_of(organisation)
    member = MembershipFactory(organisation=organisation)
    MemberScopeFactory(membership=member, binding=binding)

    signed_in(admin.user).post(member_page(member), scopes_form([binding], {binding: ["view"]}))

    assert not actions("member.scopes_changed")


def test_paying_applying_or_managing_includes_viewing():
    organisation = OrganisationFactory()
    binding = OrgBindingFactory(organisation=organisation)
    admin = admin_of(organisation)
    member = MembershipFactory(organisation=organisation)

    signed_in(admin.user).post(member_page(member), scopes_form([binding], {binding: ["pay"]}))

    scope = MemberScope.objects.get(membership=member, binding=binding)
    assert scope.scopes() == {Scope.VIEW, Scope.PAY}


def test_rows_not_on_the_submitted_page_keep_their_scopes():
    organisation = OrganisationFactory()
    shown, not_shown = OrgBindingFactory.create_batch(2, organisation=organisation)
    admin = admin_of(organisation)
    member = MembershipFactory(organisation=organisation)
    MemberScopeFactory(membership=member, binding=not_shown, can_pay=True)

    signed_in(admin.user).post(member_page(member), scopes_form([shown], {shown: ["view"]}))

    assert set(selectors.org_bindings_for(membership=member, scope=Scope.PAY)) == {not_shown}
    assert set(selectors.org_bindings_for(membership=member)) == {shown, not_shown}


def test_another_organisations_account_cannot_be_granted():
    organisation = OrganisationFactory()
    foreign = OrgBindingFactory()
    admin = admin_of(organisation)
    member = MembershipFactory(organisation=organisation)

    response = signed_in(admin.user).post(
        member_page(member), scopes_form([foreign], {foreign: ["view"]}), follow=True
    )

    assert "no longer bound to the organisation" in " ".join(alerts(response))
    assert not MemberScope.objects.exists()


def test_grant_view_on_all_accounts_keeps_other_rights():
    organisation = OrganisationFactory()
    bindings = OrgBindingFactory.create_batch(3, organisation=organisation)
    admin = admin_of(organisation)
    member = MembershipFactory(organisation=organisation)
    MemberScopeFactory(membership=member, binding=bindings[0], can_pay=True)

    signed_in(admin.user).post(member_page(member), {"action": "grant_view_all"})

    assert set(selectors.org_bindings_for(membership=member)) == set(bindings)
    assert list(selectors.org_bindings_for(membership=member, scope=Scope.PAY)) == [bindings[0]]
    assert len(actions("member.scopes_changed")) == 1


# --- Roles --------------------------------------------------------------------------------------
def test_an_administrator_promotes_a_member_who_then_needs_two_factor_authentication():
    organisation = OrganisationFactory()
    admin = admin_of(organisation)
    member = MembershipFactory(organisation=organisation)

    response = signed_in(admin.user).post(member_page(member), {"action": "role", "role": "admin"})

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.role == MemberRole.ADMIN
    [event] = actions("member.role_changed")
    assert event.actor_id == admin.user.pk
    assert '"before":"member"' in event.data and '"after":"admin"' in event.data
    response = signed_in(member.user).get(members_page(organisation))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_activate_totp"))


def test_a_demoted_administrator_loses_the_members_pages_at_once():
    organisation = OrganisationFactory()
    admin = admin_of(organisation)
    other = admin_of(organisation)
    client = signed_in(other.user)
    assert client.get(members_page(organisation)).status_code == 200

    signed_in(admin.user).post(member_page(other), {"action": "role", "role": "member"})

    assert client.get(members_page(organisation)).status_code == 404


def test_the_last_administrator_cannot_be_demoted_removed_or_leave():
    organisation = OrganisationFactory()
    admin = admin_of(organisation)
    MembershipFactory(organisation=organisation)  # a plain member does not count
    client = signed_in(admin.user)

    demoted = client.post(member_page(admin), {"action": "role", "role": "member"}, follow=True)
    left = client.post(remove_page(admin), follow=True)

    with translation.override("en"):
        message = str(services.LastAdministrator.default_message)
    assert message in alerts(demoted)
    assert message in alerts(left)
    admin.refresh_from_db()
    assert admin.role == MemberRole.ADMIN
    assert not actions("member.role_changed") and not actions("member.removed")
    with pytest.raises(services.LastAdministrator):
        services.membership_remove(by=admin, member=admin)


def test_with_two_administrators_one_may_step_down():
    organisation = OrganisationFactory()
    admin = admin_of(organisation)
    other = admin_of(organisation)

    response = signed_in(admin.user).post(member_page(admin), {"action": "role", "role": "member"})

    assert response["Location"] == reverse("org:accounts", kwargs={"org": organisation.uuid})
    admin.refresh_from_db()
    assert admin.role == MemberRole.MEMBER
    with pytest.raises(services.LastAdministrator):
        services.member_role_set(by=other, member=other, role=MemberRole.MEMBER)


# --- Removal ------------------------------------------------------------------------------------
def test_removal_ends_access_at_once_and_leaves_the_persons_other_access_alone():
    organisation = OrganisationFactory()
    binding = OrgBindingFactory(organisation=organisation)
    admin = admin_of(organisation)
    member = MembershipFactory(organisation=organisation)
    MemberScopeFactory(membership=member, binding=binding, can_pay=True)
    elsewhere = MembershipFactory(user=member.user)
    personal = BindingFactory(user=member.user)
    member_client = signed_in(member.user)
    assert member_client.get(remove_page(member)).status_code == 200  # their own "leave" page

    confirm = signed_in(admin.user).get(remove_page(member))
    assert confirm.status_code == 200
    response = signed_in(admin.user).post(remove_page(member))

    assert response["Location"] == members_page(organisation)
    assert member_client.get(remove_page(member)).status_code == 404
    with pytest.raises(Http404):
        selectors.membership_get_for(user=member.user, organisation_uuid=organisation.uuid)
    assert not MemberScope.objects.filter(membership_id=member.pk).exists()
    assert Membership.objects.filter(pk=elsewhere.pk).exists()
    assert list(selectors.binding_list_for(user=member.user)) == [personal]
    [event] = actions("member.removed")
    assert event.actor_id == admin.user.pk
    assert event.object_ref == f"portal.membership:{member.uuid}"


def test_a_member_leaves_an_organisation():
    organisation = OrganisationFactory()
    admin_of(organisation)
    member = MembershipFactory(organisation=organisation)

    response = signed_in(member.user).post(remove_page(member))

    assert response["Location"] == reverse("me:dashboard")
    assert not Membership.objects.filter(pk=member.pk).exists()
    [event] = actions("member.removed")
    assert event.actor_id == member.user.pk and '"left":true' in event.data


# --- Who may open which page --------------------------------------------------------------------
def org_pages(organisation, member, invitation_uuid, binding_uuid) -> list[tuple[str, str]]:
    """Every page under /org/<org>/, with the method that uses it."""
    org = organisation.uuid
    return [
        ("get", reverse("org:accounts", kwargs={"org": org})),
        ("get", reverse("org:export", kwargs={"org": org})),
        ("get", reverse("org:bind", kwargs={"org": org})),
        ("get", reverse("org:bind_code", kwargs={"org": org, "challenge": invitation_uuid})),
        ("get", reverse("org:account", kwargs={"org": org, "binding": binding_uuid})),
        ("post", reverse("org:unbind", kwargs={"org": org, "binding": binding_uuid})),
        ("get", reverse("org:members", kwargs={"org": org})),
        ("post", reverse("org:members", kwargs={"org": org})),
        ("get", reverse("org:member", kwargs={"org": org, "membership": member.uuid})),
        ("post", reverse("org:member", kwargs={"org": org, "membership": member.uuid})),
        ("get", reverse("org:member_remove", kwargs={"org": org, "membership": member.uuid})),
        ("post", reverse("org:member_remove", kwargs={"org": org, "membership": member.uuid})),
        (
            "post",
            reverse("org:invitation_revoke", kwargs={"org": org, "invitation": invitation_uuid}),
        ),
    ]


@pytest.fixture
def organisation_with_people():
    organisation = OrganisationFactory()
    admin = admin_of(organisation)
    member = MembershipFactory(organisation=organisation)
    binding = OrgBindingFactory(organisation=organisation)
    MemberScopeFactory(membership=member, binding=binding)
    invitation = services.invitation_create(by=admin, email="new@example.cn", role="member")
    return organisation, admin, member, binding, invitation


def test_a_non_member_gets_404_on_every_organisation_page(organisation_with_people):
    organisation, admin, member, binding, invitation = organisation_with_people
    outsider = admin_of(OrganisationFactory()).user  # an administrator, but of another one
    client = signed_in(outsider)

    for method, url in org_pages(organisation, member, invitation.uuid, binding.uuid):
        response = getattr(client, method)(url, {"action": "role", "role": "admin"})
        assert response.status_code == 404, (method, url)
    assert Membership.objects.filter(organisation=organisation).count() == 2
    assert not actions("member.role_changed")


def test_a_member_who_is_not_an_administrator_gets_404_on_the_members_pages(
    organisation_with_people,
):
    organisation, admin, member, binding, invitation = organisation_with_people
    client = signed_in(member.user)
    org = organisation.uuid

    refused = [
        ("get", members_page(organisation)),
        ("post", members_page(organisation)),
        ("get", member_page(admin)),
        ("post", member_page(admin)),
        ("get", member_page(member)),
        ("get", remove_page(admin)),
        ("post", remove_page(admin)),
        (
            "post",
            reverse("org:invitation_revoke", kwargs={"org": org, "invitation": invitation.uuid}),
        ),
    ]
    for method, url in refused:
        response = getattr(client, method)(url, {"email": "x@example.cn", "role": "admin"})
        assert response.status_code == 404, (method, url)
    assert Membership.objects.filter(pk=admin.pk, role=MemberRole.ADMIN).exists()
    invitation.refresh_from_db()
    assert invitation.is_open


def test_an_administrator_without_two_factor_authentication_is_sent_to_set_it_up():
    organisation = OrganisationFactory()
    admin = MembershipFactory(organisation=organisation, role=MemberRole.ADMIN)  # no TOTP
    client = signed_in(admin.user)

    for url in [members_page(organisation), member_page(admin)]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('mfa_activate_totp')}?next={url}"


def test_every_organisation_page_names_the_organisation_and_the_persons_role():
    organisation = OrganisationFactory(name="东方示例制造有限公司")
    admin = admin_of(organisation)
    member = MembershipFactory(organisation=organisation)
    client = signed_in(admin.user)

    for url in [members_page(organisation), member_page(member), remove_page(member)]:
        soup = BeautifulSoup(client.get(url).content, "html.parser")
        assert soup.select_one("h1").get_text(strip=True) == "东方示例制造有限公司"
        assert soup.select_one(".org-head__role .badge").get_text(strip=True) == "Administrator"


# --- The context switch -------------------------------------------------------------------------
def context_switch(response) -> list[tuple[str, bool]]:
    soup = BeautifulSoup(response.content, "html.parser")
    switch = soup.select_one(".topbar .context-switch")
    if switch is None:
        return []
    return [
        (a.get("title") or a.get_text(strip=True), a.has_attr("aria-current"))
        for a in switch.select("a")
    ]


def test_a_person_in_two_organisations_sees_both_in_the_context_switch():
    person = UserFactory()
    north = admin_of(OrganisationFactory(name="北方公司"), user=person)
    MembershipFactory(organisation=OrganisationFactory(name="东方公司"), user=person)
    client = signed_in(person)

    on_org_page = client.get(members_page(north.organisation))
    on_personal_page = client.get(reverse("me:overview"))

    assert context_switch(on_org_page) == [
        ("Personal", False),
        ("东方公司", False),
        ("北方公司", True),
    ]
    assert context_switch(on_personal_page) == [
        ("Personal", True),
        ("东方公司", False),
        ("北方公司", False),
    ]
    soup = BeautifulSoup(on_org_page.content, "html.parser")
    hrefs = [a["href"] for a in soup.select(".topbar .context-switch a")]
    assert hrefs[0] == reverse("me:dashboard")
    assert reverse("org:accounts", kwargs={"org": north.organisation.uuid}) in hrefs


def test_a_person_without_organisations_sees_no_context_switch():
    response = signed_in(UserFactory()).get(reverse("me:overview"))

    assert response.status_code == 200
    assert context_switch(response) == []
