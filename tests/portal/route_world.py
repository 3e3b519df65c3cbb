"""One of everything a customer-facing route names, and who it belongs to: the world in which the
access matrix (test_access_matrix.py) asks every route as the wrong people, and the CSRF walk
(test_csrf.py) posts to every route as the rightful one.

``route_world()`` returns the people (``customer`` holds the personal objects, ``admin`` the
organisation's, ``member`` is a member of the organisation without any scope), ``kwargs``: each
route's URL arguments, and ``posts``: what the rightful person posts to each route whose POST
changes something (the same data the wrong people post, so that they are refused something real).
"""

import hashlib

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from applications.cases import case_create, case_request_material, case_submit
from applications.kinds import kind_versions_current
from applications.models import Case, CaseStatus
from applications.survey import survey_token
from payments import checkout
from portal.core import clock
from portal.models import BindingChallenge, Invitation, MemberRole, Membership, Organisation
from tests.applications.documents import png_bytes, with_required_documents
from tests.factories import (
    BillFactory,
    BindingFactory,
    ServiceAccountFactory,
    StaffUserFactory,
    UserFactory,
    totp_enrol,
)
from tests.payments.test_checkout import local_pay
from tests.payments.test_invoices import DETAILS as INVOICE_DETAILS

# The link in the e-mail inviting the customer (only its hash is stored, as for a real one).
INVITATION_TOKEN = "the-customers-invitation-link-0123456789abcdef"


def url_patterns(patterns=None, prefix="", namespace=""):
    """(route text, full name or None, view) of every pattern of the URL configuration."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from url_patterns(pattern.url_patterns, route, inner)
        elif isinstance(pattern, URLPattern):
            yield route, f"{namespace}{pattern.name}" if pattern.name else None, pattern.callback


def _application(user, *, submitted: bool) -> Case:
    """A resident's new connection with its documents: a draft, or handed in and then asked for
    more (waiting for the customer's answer)."""
    version = kind_versions_current()["new_connection"]
    case = with_required_documents(
        case_create(version=version, customer_class="residential", applicant=user)
    )
    if submitted:
        case = case_submit(case=case, actor=user)
        case = case_request_material(
            case=case, actor=StaffUserFactory(), text="请补充房产证明的清晰扫描件。"
        )
    return case


def _challenge(**fields) -> BindingChallenge:
    return BindingChallenge.objects.create(
        channel="phone_code", expires_at=clock.now() + timezone.timedelta(minutes=10), **fields
    )


def route_world() -> dict:
    customer, admin, member, colleague = (UserFactory() for _ in range(4))
    # Organisation administrators act only with two factors (portal/org_access.py).
    totp_enrol(admin)
    organisation = Organisation.objects.create(name="示例公司", uscc="91110105MA01ABCD6J")
    Membership.objects.create(organisation=organisation, user=admin, role=MemberRole.ADMIN)
    Membership.objects.create(organisation=organisation, user=member, role=MemberRole.MEMBER)
    colleague_membership = Membership.objects.create(
        organisation=organisation, user=colleague, role=MemberRole.MEMBER
    )
    org_binding = BindingFactory(organisation=organisation, user=None)
    personal = BindingFactory(user=customer)
    org_bill = BillFactory(account=org_binding.account)
    expires_at = clock.now() + timezone.timedelta(days=7)
    invitation = Invitation.objects.create(
        organisation=organisation,
        email="new@example.cn",
        token_hash="x" * 64,
        expires_at=expires_at,
    )
    Invitation.objects.create(
        organisation=organisation,
        email=customer.email,
        token_hash=hashlib.sha256(INVITATION_TOKEN.encode()).hexdigest(),
        expires_at=expires_at,
    )
    org_challenge = _challenge(
        user=admin,
        organisation=organisation,
        account=ServiceAccountFactory(),
        account_number="3100000099",
    )
    personal_challenge = _challenge(user=customer, account_number="3100000098")
    attempt = checkout.attempt_create(
        user=customer, bill_uuids=[BillFactory(account=personal.account).uuid]
    )
    paid = checkout.attempt_create(
        user=customer, bill_uuids=[BillFactory(account=personal.account).uuid]
    )
    local_pay(paid)
    org_payment = checkout.attempt_create(
        user=admin, bill_uuids=[BillFactory(account=org_binding.account).uuid]
    )
    local_pay(org_payment)
    case = _application(customer, submitted=True)
    draft = _application(customer, submitted=False)
    completed = _application(customer, submitted=False)
    Case.objects.filter(pk=completed.pk).update(status=CaseStatus.COMPLETED)
    # An application of the organisation's account, which the member (no scope) must not see.
    case_create(
        version=kind_versions_current()["capacity_increase"],
        customer_class=org_binding.account.customer_class,
        applicant=admin,
        organisation=organisation,
        account=org_binding.account,
        details={"address": org_binding.account.address},
    )
    org = {"org": organisation.uuid}
    kwargs = {
        "applications:detail": {"uuid": case.uuid},
        "applications:draft": {"uuid": draft.uuid},
        "applications:review": {"uuid": draft.uuid},
        "applications:upload": {"uuid": draft.uuid},
        "applications:document": {"uuid": case.uuid, "document": case.documents.first().uuid},
        "applications:document_remove": {
            "uuid": draft.uuid,
            "document": draft.documents.first().uuid,
        },
        "applications:answer": {"uuid": case.uuid},
        "applications:withdraw": {"uuid": case.uuid},
        "me:bind_code": {"challenge": personal_challenge.uuid},
        "me:account": {"binding": personal.uuid},
        "me:relabel": {"binding": personal.uuid},
        "me:unbind": {"binding": personal.uuid},
        "me:account_bills": {"binding": personal.uuid},
        "me:usage": {"binding": personal.uuid},
        "org:invitation_accept": {"token": INVITATION_TOKEN},
        "org:accounts": org,
        "org:export": org,
        "org:bind": org,
        "org:bind_code": org | {"challenge": org_challenge.uuid},
        "org:account": org | {"binding": org_binding.uuid},
        "org:unbind": org | {"binding": org_binding.uuid},
        "org:members": org,
        "org:member": org | {"membership": colleague_membership.uuid},
        "org:member_remove": org | {"membership": colleague_membership.uuid},
        "org:invitation_revoke": org | {"invitation": invitation.uuid},
        "org:applications": org,
        "org:application_start": org,
        "org:bills": org,
        "org:statement": org,
        "org:statement_pdf": org | {"year": 2026, "month": 1},
        "bills:detail": {"bill": org_bill.uuid},
        "pay:attempt": {"attempt": attempt.uuid},
        "pay:test_gateway": {"attempt": attempt.uuid},
        "pay:done": {"attempt": attempt.uuid},
        "pay:status": {"attempt": attempt.uuid},
        "pay:invoice": {"attempt": paid.uuid},
        "receipts:pdf": {"number": org_payment.receipts.get().number},
        "receipts:verify": {"token": org_payment.receipts.get().token},
        "survey:answer": {"token": survey_token(completed)},
    }
    wrong_code = {"code": "000000", "label": ""}
    posts = {
        "applications:draft": {
            "contact_name": "李雷",
            "contact_phone": "13900001111",
            "address": "浦东新区世纪大道 1 号",
            "district": "浦东新区",
        },
        "applications:review": {},
        "applications:upload": lambda: {
            "document": "identity",
            "file": SimpleUploadedFile("id.png", png_bytes(), content_type="image/png"),
        },
        "applications:document_remove": {},
        "applications:answer": {"text": "已上传房产证明。"},
        "applications:withdraw": {"reason": "不需要了"},
        # A wrong code: counted against the challenge, which is a change.
        "me:bind_code": wrong_code,
        "me:relabel": {"label": "父母家"},
        "me:unbind": {},
        "org:invitation_accept": {},
        "org:bind": {"method": "code", "code-number": "3100000096", "code-channel": "phone_code"},
        "org:bind_code": wrong_code,
        "org:unbind": {},
        "org:members": {"email": "colleague2@example.cn", "role": MemberRole.MEMBER},
        "org:member": {"action": "grant_view_all"},
        "org:member_remove": {},
        "org:invitation_revoke": {},
        "org:application_start": {
            "kind": "capacity_increase",
            "customer_class": org_binding.account.customer_class,
            "account": str(org_binding.uuid),
        },
        "pay:test_gateway": {"outcome": "succeed"},
        "pay:invoice": INVOICE_DETAILS,
        "survey:answer": {"score": 5, "comment": "很好"},
    }
    return {
        "customer": customer,
        "admin": admin,
        "member": member,
        "org_binding": org_binding,
        "kwargs": kwargs,
        "posts": posts,
    }


def post_data(world: dict, name: str) -> dict:
    """The data the rightful person posts to ``name`` (a fresh file each time)."""
    data = world["posts"][name]
    return data() if callable(data) else dict(data)
