"""Every page that names an object answers 404 to anyone who may not see it.

The test walks the URL configuration, finds every route of ours that takes an identifier, and
requests each one as three people who must not get through: someone unrelated, a member of the
organisation without the scope the route needs, and nobody (anonymous). A new route that is not
in ROUTES fails the test until someone states who may reach it.
"""

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from applications.cases import case_create, case_submit
from applications.kinds import kind_versions_current
from payments import checkout
from portal.core import clock
from portal.models import BindingChallenge, Invitation, MemberRole, Membership, Organisation
from tests.applications.documents import with_required_documents
from tests.factories import BillFactory, BindingFactory, ServiceAccountFactory, UserFactory
from tests.payments.test_checkout import local_pay

pytestmark = pytest.mark.django_db

# Framework routes with their own access rules (allauth, Wagtail, Django admin, the token-
# authenticated integration API) are tested where they are configured, not here.
FOREIGN_PREFIXES = (
    "accounts/",
    "cms-admin/",
    "django-admin/",
    "documents/",
    "i18n/",
    "api/",
    "_util/",  # Wagtail's password-protected page views
)

# route name → (method, who of the organisation may pass: "admin" / "member" / "viewer" / None
# for personal routes). "member" means any member reaches it (it shows only what they may see);
# "viewer" needs the view scope on the binding in the URL; "admin" needs the administrator role.
ROUTES = {
    "me:bind_code": ("GET", None),
    "me:account": ("GET", None),
    "me:relabel": ("POST", None),
    "me:unbind": ("POST", None),
    "org:invitation_accept": ("GET", None),
    "org:accounts": ("GET", "member"),
    "org:export": ("GET", "member"),
    "org:bind": ("GET", "admin"),
    "org:bind_code": ("GET", "admin"),
    "org:account": ("GET", "viewer"),
    "org:unbind": ("POST", "manager"),
    "org:members": ("GET", "admin"),
    "org:member": ("GET", "admin"),
    "org:member_remove": ("POST", "admin"),
    "org:invitation_revoke": ("POST", "admin"),
    "me:account_bills": ("GET", None),
    "me:usage": ("GET", None),
    "org:bills": ("GET", "member"),
    "org:statement": ("GET", "member"),
    # The monthly PDF statement needs the view scope on at least one account.
    "org:statement_pdf": ("GET", "viewer"),
    # A bill's page serves a person's own bill and an organisation's bill alike: the world
    # below names an organisation's, which needs the view scope on its account.
    "bills:detail": ("GET", "viewer"),
    # A payment attempt is its creator's alone, whoever the bills belong to.
    "pay:attempt": ("GET", None),
    "pay:test_gateway": ("POST", None),
    "pay:done": ("GET", None),
    "pay:status": ("GET", None),
    # A VAT invoice request: the payer, or an administrator of the organisation paid for.
    "pay:invoice": ("GET", None),
    # A receipt goes to whoever may see the payment: for an organisation's, the members with the
    # view scope on every account it covers. The verification page is public: a token nobody
    # was issued is "not a valid receipt" (404) to everyone.
    "receipts:pdf": ("GET", "viewer"),
    "receipts:verify": ("GET", None),
    # An application is its applicant's (and, for one staff opened, whoever binds its account).
    "applications:detail": ("GET", None),
    "applications:draft": ("GET", None),
    "applications:review": ("GET", None),
    "applications:upload": ("POST", None),
    "applications:document": ("GET", None),
    "applications:document_remove": ("POST", None),
    "applications:answer": ("POST", None),
    "applications:withdraw": ("POST", None),
    # The satisfaction survey is public behind its signed link: an unsigned token is "not a
    # valid survey link" (404) to everyone.
    "survey:answer": ("GET", None),
    # An organisation's applications: any member reaches the list and the start page, which show
    # only the cases and accounts the member holds the apply scope on (a member who holds it on
    # none is told so on the start page, with no form). Its cases open at applications:detail,
    # refused to a member without the scope in tests/applications/test_org_apply.py.
    "org:applications": ("GET", "member"),
    "org:application_start": ("GET", "member"),
}


def _routes_with_identifiers(patterns=None, prefix="", namespace=""):
    """(full name, route text) of every named route whose pattern has a converter."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if route.startswith(FOREIGN_PREFIXES) or route.startswith("^"):
            continue
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _routes_with_identifiers(pattern.url_patterns, route, inner)
        elif isinstance(pattern, URLPattern) and pattern.name and pattern.pattern.converters:
            yield f"{namespace}{pattern.name}", route


def test_every_route_with_an_identifier_is_in_the_matrix():
    found = dict(_routes_with_identifiers())

    escaped = sorted(set(found) - set(ROUTES))
    assert not escaped, f"routes missing from the access matrix: {escaped}"
    assert not sorted(set(ROUTES) - set(found)), "the matrix names routes that no longer exist"


def applications_of(user):
    """A submitted application with its documents, and a draft, both ``user``'s."""
    version = kind_versions_current()["new_connection"]
    case = case_create(version=version, customer_class="residential", applicant=user)
    case = case_submit(case=with_required_documents(case), actor=user)
    draft = case_create(version=version, customer_class="residential", applicant=user)
    return case, draft


@pytest.fixture
def world():
    """An organisation with an administrator, a member who holds no scope, one bound account,
    a pending invitation and a pending binding code of its own; and a person's own binding."""
    admin, member = UserFactory(), UserFactory()
    organisation = Organisation.objects.create(name="示例公司", uscc="91110105MA01ABCD6J")
    admin_membership = Membership.objects.create(
        organisation=organisation, user=admin, role=MemberRole.ADMIN
    )
    Membership.objects.create(organisation=organisation, user=member, role=MemberRole.MEMBER)
    org_binding = BindingFactory(organisation=organisation, user=None)
    personal = BindingFactory()
    org_bill = BillFactory(account=org_binding.account)
    from django.utils import timezone

    invitation = Invitation.objects.create(
        organisation=organisation,
        email="new@example.cn",
        token_hash="x" * 64,
        expires_at=clock.now() + timezone.timedelta(days=7),
    )
    org_challenge = BindingChallenge.objects.create(
        user=admin,
        organisation=organisation,
        account=ServiceAccountFactory(),
        account_number="3100000099",
        channel="phone_code",
        expires_at=clock.now() + timezone.timedelta(minutes=10),
    )
    attempt = checkout.attempt_create(
        user=personal.user, bill_uuids=[BillFactory(account=personal.account).uuid]
    )
    org_payment = checkout.attempt_create(
        user=admin, bill_uuids=[BillFactory(account=org_binding.account).uuid]
    )
    local_pay(org_payment)
    personal_challenge = BindingChallenge.objects.create(
        user=personal.user,
        account_number="3100000098",
        channel="phone_code",
        expires_at=clock.now() + timezone.timedelta(minutes=10),
    )
    case, draft = applications_of(personal.user)
    # An application of the organisation's account, which the member (no scope) must not see.
    case_create(
        version=kind_versions_current()["capacity_increase"],
        customer_class=org_binding.account.customer_class,
        applicant=admin,
        organisation=organisation,
        account=org_binding.account,
        details={"address": org_binding.account.address},
    )
    document = {"uuid": case.uuid, "document": case.documents.first().uuid}
    kwargs = {
        "applications:detail": {"uuid": case.uuid},
        "applications:draft": {"uuid": draft.uuid},
        "applications:review": {"uuid": draft.uuid},
        "applications:upload": {"uuid": draft.uuid},
        "applications:document": document,
        "applications:document_remove": document,
        "applications:answer": {"uuid": case.uuid},
        "applications:withdraw": {"uuid": case.uuid},
        "me:bind_code": {"challenge": personal_challenge.uuid},
        "me:account": {"binding": personal.uuid},
        "me:relabel": {"binding": personal.uuid},
        "me:unbind": {"binding": personal.uuid},
        "org:invitation_accept": {"token": "not-a-token-anybody-was-sent"},
        "org:accounts": {"org": organisation.uuid},
        "org:export": {"org": organisation.uuid},
        "org:bind": {"org": organisation.uuid},
        "org:bind_code": {"org": organisation.uuid, "challenge": org_challenge.uuid},
        "org:account": {"org": organisation.uuid, "binding": org_binding.uuid},
        "org:unbind": {"org": organisation.uuid, "binding": org_binding.uuid},
        "org:members": {"org": organisation.uuid},
        "org:member": {"org": organisation.uuid, "membership": admin_membership.uuid},
        "org:member_remove": {"org": organisation.uuid, "membership": admin_membership.uuid},
        "org:invitation_revoke": {"org": organisation.uuid, "invitation": invitation.uuid},
        "org:applications": {"org": organisation.uuid},
        "org:application_start": {"org": organisation.uuid},
        "me:account_bills": {"binding": personal.uuid},
        "me:usage": {"binding": personal.uuid},
        "org:bills": {"org": organisation.uuid},
        "org:statement": {"org": organisation.uuid},
        "org:statement_pdf": {"org": organisation.uuid, "year": 2026, "month": 1},
        "bills:detail": {"bill": org_bill.uuid},
        "pay:attempt": {"attempt": attempt.uuid},
        "pay:test_gateway": {"attempt": attempt.uuid},
        "pay:done": {"attempt": attempt.uuid},
        "pay:status": {"attempt": attempt.uuid},
        "pay:invoice": {"attempt": attempt.uuid},
        "receipts:pdf": {"number": org_payment.receipts.get().number},
        "receipts:verify": {"token": "not-a-token-anybody-was-issued"},
        "survey:answer": {"token": "not-a-token-anybody-was-sent"},
    }
    return {"member": member, "kwargs": kwargs, "org_binding": org_binding}


def _request(client, name, kwargs):
    method, _who = ROUTES[name]
    url = reverse(name, kwargs=kwargs)
    return client.post(url) if method == "POST" else client.get(url)


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_an_unrelated_person_gets_not_found(client, world, name):
    client.force_login(UserFactory())

    response = _request(client, name, world["kwargs"][name])

    if name == "org:invitation_accept":
        # A token nobody was sent gets the same refusal as an expired or used one, naming no
        # organisation.
        assert response.status_code in (200, 404)
        assert "示例公司" not in response.content.decode()
    else:
        assert response.status_code == 404


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_anonymous_visitors_are_sent_to_sign_in_or_get_not_found(client, world, name):
    response = _request(client, name, world["kwargs"][name])

    if response.status_code == 302:
        assert response["Location"].startswith(reverse("account_login"))
    else:
        assert response.status_code == 404


@pytest.mark.parametrize("name", sorted(n for n, (_m, who) in ROUTES.items() if who))
def test_a_member_without_the_scope_gets_not_found(client, world, name):
    client.force_login(world["member"])

    response = _request(client, name, world["kwargs"][name])

    if ROUTES[name][1] == "member":
        # Any member reaches the organisation's pages, which show nothing they may not see.
        assert response.status_code == 200
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert world["org_binding"].account.number not in body.decode("utf-8-sig")
    else:
        assert response.status_code == 404


def test_random_identifiers_are_not_found(client, world):
    client.force_login(world["member"])

    assert client.get(reverse("me:account", args=[uuid.uuid4()])).status_code == 404
    assert client.get(reverse("org:accounts", args=[uuid.uuid4()])).status_code == 404
