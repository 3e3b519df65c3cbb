"""Inviting people into an organisation by e-mail, and accepting: only the person who verified
the invited address, only once, only within 7 days, only while the invitation stands, and every
refusal looks the same."""

import hashlib
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress
from bs4 import BeautifulSoup
from django.test import Client
from django.urls import reverse
from django.utils import translation

from portal import organisations as services
from portal.core import clock
from portal.core.errors import RateLimited
from portal.models import AuditEvent, Invitation, MemberRole, Membership
from tests.factories import MembershipFactory, OrganisationFactory, UserFactory, totp_enrol

pytestmark = pytest.mark.django_db

INVITED = "li.na@example.cn"
LINK_RE = re.compile(r"https?://\S+?/org/invitations/[\w-]+/")


def signed_in(user) -> Client:
    client = Client(headers={"accept-language": "en"})
    client.force_login(user)
    return client


def admin_of(organisation) -> Membership:
    membership = MembershipFactory(organisation=organisation, role=MemberRole.ADMIN)
    totp_enrol(membership.user)
    return membership


def members_page(organisation) -> str:
    return reverse("org:members", kwargs={"org": organisation.uuid})


def alerts(response) -> list[str]:
    """The text of each alert on the page, as it reads (without the screen readers' "Error:")."""
    soup = BeautifulSoup(response.content, "html.parser")
    for hidden in soup.select(".alert__text .visually-hidden"):
        hidden.decompose()
    return [" ".join(p.get_text().split()) for p in soup.select(".alert__text")]


def refusal() -> str:
    with translation.override("en"):
        return " ".join(str(services.InvitationRefused.default_message).split())


def actions(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


@pytest.fixture
def organisation():
    return OrganisationFactory(name="华东示例贸易有限公司")


@pytest.fixture
def admin(organisation):
    return admin_of(organisation)


@pytest.fixture
def invite(admin, mailoutbox, django_capture_on_commit_callbacks):
    """``invite(email, role)``: an administrator invites someone on the members page; returns
    the path of the link in the e-mail they were sent."""

    def send(email: str = INVITED, role: str = "member") -> str:
        before = len(mailoutbox)
        with django_capture_on_commit_callbacks(execute=True):
            response = signed_in(admin.user).post(
                members_page(admin.organisation), {"email": email, "role": role}
            )
        assert response.status_code == 302, alerts(response)
        assert len(mailoutbox) == before + 1
        message = mailoutbox[-1]
        assert message.to == [email.lower()]
        return urlsplit(LINK_RE.search(message.body).group(0)).path

    return send


@pytest.fixture
def invitee():
    return UserFactory(email=INVITED)


# --- The happy path -----------------------------------------------------------------------------
def test_an_invited_person_accepts_by_the_link_and_becomes_a_member(
    organisation, admin, invite, invitee, mailoutbox
):
    link = invite(INVITED.upper())
    body = mailoutbox[-1].body
    assert "华东示例贸易有限公司" in body
    assert organisation.uscc in body
    client = signed_in(invitee)

    page = client.get(link)
    assert page.status_code == 200
    assert "华东示例贸易有限公司" in page.content.decode()
    assert not Membership.objects.filter(user=invitee).exists()  # looking is not accepting

    response = client.post(link)

    assert response.status_code == 302
    assert response["Location"] == reverse("org:accounts", kwargs={"org": organisation.uuid})
    membership = Membership.objects.get(user=invitee)
    assert (membership.organisation, membership.role) == (organisation, MemberRole.MEMBER)
    invitation = Invitation.objects.get()
    assert invitation.accepted_by == invitee and invitation.accepted_at is not None
    [created] = actions("invitation.created")
    [accepted] = actions("invitation.accepted")
    assert created.actor_id == admin.user.pk
    assert accepted.actor_id == invitee.pk
    assert created.object_ref == accepted.object_ref == f"portal.invitation:{invitation.uuid}"
    # A new member sees no account until an administrator gives them some.
    assert not membership.scopes.exists()


def test_only_the_tokens_hash_is_stored_and_the_link_expires_in_seven_days(invite):
    link = invite()
    token = link.rstrip("/").rsplit("/", 1)[1]

    invitation = Invitation.objects.get()
    assert len(token) >= 40
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert not Invitation.objects.filter(token_hash=token).exists()
    expected = clock.now() + timedelta(days=7)
    assert abs(invitation.expires_at - expected) < timedelta(minutes=1)


def test_a_person_invited_as_administrator_must_set_up_two_factor_authentication(
    organisation, invite, invitee
):
    client = signed_in(invitee)
    client.post(invite(role="admin"))

    assert Membership.objects.get(user=invitee).role == MemberRole.ADMIN
    response = client.get(members_page(organisation))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_activate_totp"))


def test_a_signed_out_person_is_asked_to_sign_in_first(invite):
    link = invite()

    response = Client().get(link)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


# --- Every refusal looks the same ---------------------------------------------------------------
def wrong_user(invite, invitee):
    return invite(), UserFactory(email="someone.else@example.cn")


def unverified_address(invite, invitee):
    EmailAddress.objects.filter(user=invitee).update(verified=False)
    return invite(), invitee


def invited_address_is_only_secondary_and_unverified(invite, invitee):
    other = UserFactory(email="primary@example.cn")
    EmailAddress.objects.create(user=other, email=INVITED.upper(), verified=False, primary=False)
    return invite(), other


def expired(invite, invitee):
    link = invite()
    Invitation.objects.update(expires_at=clock.now() - timedelta(seconds=1))
    return link, invitee


def revoked(invite, invitee):
    link = invite()
    invitation = Invitation.objects.get()
    admin = Membership.objects.get(organisation=invitation.organisation, role="admin")
    services.invitation_revoke(by=admin, invitation=invitation)
    return link, invitee


def already_used(invite, invitee):
    link = invite()
    assert signed_in(invitee).post(link).status_code == 302
    Membership.objects.filter(user=invitee).delete()  # removed since; the link stays used
    return link, invitee


def replaced_by_a_new_link(invite, invitee):
    old = invite()
    invite()  # sent again: the new e-mail's link replaces the old one
    return old, invitee


def made_up(invite, invitee):
    invite()
    return reverse("org:invitation_accept", args=["x" * 43]), invitee


@pytest.mark.parametrize(
    "situation",
    [
        wrong_user,
        unverified_address,
        invited_address_is_only_secondary_and_unverified,
        expired,
        revoked,
        already_used,
        replaced_by_a_new_link,
        made_up,
    ],
)
def test_an_invitation_that_cannot_be_accepted_is_refused_with_one_message(
    situation, invite, invitee
):
    link, user = situation(invite, invitee)
    client = signed_in(user)
    members_before = Membership.objects.count()

    looked = client.get(link)
    posted = client.post(link)

    for response in (looked, posted):
        assert response.status_code == 200
        assert alerts(response) == [refusal()]
    assert Membership.objects.count() == members_before
    assert not Membership.objects.filter(user=user).exists()
    assert actions("invitation.refused")


def test_a_verified_secondary_address_may_accept(invite):
    person = UserFactory(email="primary@example.cn")
    EmailAddress.objects.create(user=person, email=INVITED, verified=True, primary=False)

    response = signed_in(person).post(invite())

    assert response.status_code == 302
    assert Membership.objects.filter(user=person).exists()


# --- Sending again, withdrawing -----------------------------------------------------------------
def test_sending_again_gives_a_new_link_and_a_new_expiry(
    organisation, admin, invite, invitee, mailoutbox, django_capture_on_commit_callbacks
):
    old_link = invite()
    Invitation.objects.update(expires_at=clock.now() + timedelta(hours=1))
    invitation = Invitation.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(admin.user).post(
            members_page(organisation), {"resend": str(invitation.uuid)}
        )

    assert response.status_code == 302
    new_link = urlsplit(LINK_RE.search(mailoutbox[-1].body).group(0)).path
    assert new_link != old_link
    invitation.refresh_from_db()
    assert invitation.expires_at > clock.now() + timedelta(days=6)
    assert Invitation.objects.count() == 1
    assert [e.object_ref for e in actions("invitation.resent")] == [
        f"portal.invitation:{invitation.uuid}"
    ]
    client = signed_in(invitee)
    assert alerts(client.get(old_link)) == [refusal()]
    assert client.post(new_link).status_code == 302


def test_an_administrator_withdraws_an_invitation(organisation, admin, invite, invitee):
    link = invite()
    invitation = Invitation.objects.get()

    response = signed_in(admin.user).post(
        reverse(
            "org:invitation_revoke",
            kwargs={"org": organisation.uuid, "invitation": invitation.uuid},
        )
    )

    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    [event] = actions("invitation.revoked")
    assert event.actor_id == admin.user.pk
    assert alerts(signed_in(invitee).post(link)) == [refusal()]


def test_the_members_page_lists_open_invitations(organisation, admin, invite):
    invite()

    page = signed_in(admin.user).get(members_page(organisation))

    assert page.status_code == 200
    assert INVITED in page.content.decode()
    soup = BeautifulSoup(page.content, "html.parser")
    assert soup.select_one(f'button[name="resend"][value="{Invitation.objects.get().uuid}"]')


def test_someone_already_a_member_is_not_invited_again(organisation, admin, mailoutbox):
    member = MembershipFactory(organisation=organisation)

    response = signed_in(admin.user).post(
        members_page(organisation), {"email": member.user.email, "role": "member"}
    )

    assert response.status_code == 200
    assert any("already a member" in text for text in alerts(response))
    assert not Invitation.objects.exists()
    assert not mailoutbox


# --- Rate limits --------------------------------------------------------------------------------
def test_invitations_are_limited_per_organisation(settings, organisation, admin, invite):
    settings.ORGANISATION_INVITATION_LIMIT_PER_HOUR = 2
    invite("a@example.cn")
    invite("b@example.cn")

    response = signed_in(admin.user).post(
        members_page(organisation), {"email": "c@example.cn", "role": "member"}
    )

    with translation.override("en"):
        assert str(RateLimited.default_message) in alerts(response)
    assert not Invitation.objects.filter(email="c@example.cn").exists()
    # Another organisation is counted apart.
    other = admin_of(OrganisationFactory())
    services.invitation_create(by=other, email="c@example.cn", role="member")


def test_acceptance_attempts_are_limited_per_person(settings, invite, invitee):
    settings.INVITATION_ACCEPT_LIMIT_PER_USER = 3
    link = invite()
    client = signed_in(invitee)
    for _ in range(3):
        client.get(reverse("org:invitation_accept", args=["guess" * 9]))

    response = client.post(link)

    with translation.override("en"):
        assert alerts(response) == [str(RateLimited.default_message)]
    assert not Membership.objects.filter(user=invitee).exists()


def test_acceptance_attempts_are_limited_per_address(settings, invite, invitee):
    settings.INVITATION_ACCEPT_LIMIT_PER_IP = 2
    link = invite()
    for _ in range(2):
        signed_in(UserFactory()).get(reverse("org:invitation_accept", args=["guess" * 9]))

    response = signed_in(invitee).post(link)

    with translation.override("en"):
        assert alerts(response) == [str(RateLimited.default_message)]
