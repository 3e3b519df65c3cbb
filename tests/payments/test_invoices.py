"""VAT invoice requests (增值税发票): a business asks on a paid payment, the request goes to the
billing system through the billing export, and the billing system reports back through the
integration API (`POST /api/integration/v1/invoices/{uuid}`, scope `invoices:write`); the
portal shows the status (payments/invoices.py). Runs on SQLite and on PostgreSQL."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse

from payments import checkout
from payments.invoices import InvoiceAlreadyRequested, invoice_request_create
from payments.models import BillingExport, ExportKind, InvoiceRequest, InvoiceStatus
from payments.refunds import refund_request
from portal.integration import integration_client_create
from portal.models import AuditEvent, IntegrationScope, MemberScope
from tests.factories import (
    BillFactory,
    MembershipFactory,
    OrganisationFactory,
    OrgBindingFactory,
    StaffUserFactory,
    UserFactory,
    totp_enrol,
)
from tests.payments.test_checkout import local_pay, own_bill
from tests.payments.test_payment_concurrency import in_threads

pytestmark = pytest.mark.django_db

EXPORT = "/api/integration/v1/payments/export"
# Check characters computed with python-stdnum; the second differs only in its last character.
USCC = "91110108MA01KPGK0L"
USCC_WRONG_CHECK = "91110108MA01KPGK0M"
ORG_USCC = "91110105MA01ABCD6J"

DETAILS = {
    "title": "北京星河商贸有限公司",
    "tax_number": "9111 0108 ma01 kpgk 0l",
    "address": "北京市朝阳区望京街 10 号",
    "phone": "010-88886666",
    "bank_name": "中国工商银行北京望京支行",
    "bank_account": "0200 0012 3456 7890 123",
    "email": "finance@xinghe.example.cn",
}


def invoice_url(attempt):
    return reverse("pay:invoice", kwargs={"attempt": attempt.uuid})


def paid_by(user):
    """``user`` pays a bill of their own account online; returns the attempt."""
    attempt = checkout.attempt_create(user=user, bill_uuids=[own_bill(user).uuid])
    local_pay(attempt)
    return attempt


@pytest.fixture
def customer():
    return UserFactory()


@pytest.fixture
def payment(customer):
    return paid_by(customer)


@pytest.fixture
def org():
    """An organisation with an administrator (two factors), a member who may pay its account,
    and a payment that member made for it."""
    organisation = OrganisationFactory(name="华北示例科技有限公司", uscc=ORG_USCC)
    admin = MembershipFactory(organisation=organisation, role="admin")
    totp_enrol(admin.user)
    payer = MembershipFactory(organisation=organisation)
    binding = OrgBindingFactory(organisation=organisation)
    MemberScope.objects.create(membership=payer, binding=binding, can_view=True, can_pay=True)
    attempt = checkout.attempt_create(
        user=payer.user, bill_uuids=[BillFactory(account=binding.account).uuid]
    )
    local_pay(attempt)
    return {"organisation": organisation, "admin": admin, "payer": payer, "attempt": attempt}


@pytest.fixture
def api():
    """A client as the billing system is: no session, CSRF enforced."""
    return Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def issuer():
    """The token of a billing system allowed to report invoices."""
    _client, token = integration_client_create(
        name="CIS invoicing", scopes=[IntegrationScope.INVOICES_WRITE]
    )
    return token


def report(api, token, invoice_uuid, **body):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return api.post(
        f"/api/integration/v1/invoices/{invoice_uuid}",
        body,
        content_type="application/json",
        **headers,
    )


def requested(user, attempt, **changes) -> InvoiceRequest:
    return invoice_request_create(user=user, attempt=attempt, **(DETAILS | changes))


# --- Requesting -----------------------------------------------------------------------------------
def test_the_payer_requests_an_invoice_and_the_billing_system_reads_it_from_the_export(
    client, api, customer, payment, audit_actions
):
    client.force_login(customer)

    response = client.post(invoice_url(payment), DETAILS, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 302
    request = InvoiceRequest.objects.get(attempt=payment)
    # Typed as people type them; stored as the invoice prints them.
    assert (request.tax_number, request.bank_account) == (USCC, "0200001234567890123")
    assert request.status == InvoiceStatus.REQUESTED and request.requested_by == customer
    assert audit_actions(action="invoice.requested") == ["invoice.requested"]
    event = AuditEvent.objects.get(action="invoice.requested")
    assert event.actor_id == customer.pk
    row = BillingExport.objects.get(kind=ExportKind.INVOICE_REQUEST)
    assert row.seq == event.seq

    _reader, token = integration_client_create(
        name="CIS reader", scopes=[IntegrationScope.PAYMENTS_READ]
    )
    messages = api.get(EXPORT, {"after": 0}, HTTP_AUTHORIZATION=f"Bearer {token}").json()[
        "messages"
    ]
    assert [m["kind"] for m in messages] == ["payment", "invoice_request"]
    assert messages[1]["data"] == {
        "invoice_request": str(request.uuid),
        "payment_reference": payment.reference,
        "amount": f"{payment.amount:.2f}",
        "refunded": "0.00",
        "currency": "CNY",
        "title": "北京星河商贸有限公司",
        "tax_number": USCC,
        "address": "北京市朝阳区望京街 10 号",
        "phone": "010-88886666",
        "bank_name": "中国工商银行北京望京支行",
        "bank_account": "0200001234567890123",
        "email": "finance@xinghe.example.cn",
        "requested_at": request.created_at.isoformat(),
    }


def test_the_page_says_the_request_was_passed_on_and_offers_no_second_form(
    client, customer, payment
):
    client.force_login(customer)

    page = client.post(invoice_url(payment), DETAILS, HTTP_ACCEPT_LANGUAGE="en", follow=True)

    text = page.content.decode()
    assert "passed to the billing office" in text
    assert "finance@xinghe.example.cn" in text
    assert "Invoice requested" in text
    assert page.context["form"] is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tax_number", USCC_WRONG_CHECK, "not a valid unified social credit code"),
        ("tax_number", "91110108MA01KPGK", "not a valid unified social credit code"),
        ("bank_account", "6222 0200 ABCD", "8 to 30 digits"),
        ("bank_account", "1234567", "8 to 30 digits"),
        ("phone", "call the office", "with the area code"),
        ("title", "   ", "This field is required."),
    ],
)
def test_wrong_details_are_refused_next_to_the_field_and_nothing_changes(
    client, customer, payment, field, value, message
):
    client.force_login(customer)

    response = client.post(
        invoice_url(payment), DETAILS | {field: value}, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 200
    assert any(message in error for error in response.context["form"].errors[field])
    assert not InvoiceRequest.objects.exists()
    assert not BillingExport.objects.filter(kind=ExportKind.INVOICE_REQUEST).exists()


def test_errors_are_in_the_customers_language(client, customer, payment):
    client.force_login(customer)

    response = client.post(
        invoice_url(payment),
        DETAILS | {"tax_number": USCC_WRONG_CHECK},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )

    assert "这不是有效的统一社会信用代码" in response.content.decode()
    assert not InvoiceRequest.objects.exists()


def test_a_second_request_is_refused_while_one_is_open_and_allowed_after_a_rejection(
    client, api, issuer, customer, payment
):
    first = requested(customer, payment)
    client.force_login(customer)

    response = client.post(invoice_url(payment), DETAILS, HTTP_ACCEPT_LANGUAGE="en", follow=True)

    assert "already been requested" in response.content.decode()
    assert InvoiceRequest.objects.count() == 1

    assert (
        report(api, issuer, first.uuid, status="rejected", note="开户行名称有误").status_code == 200
    )
    page = client.get(invoice_url(payment), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "开户行名称有误" in page
    # The form starts with the rejected request's details, to correct.
    assert (
        client.get(invoice_url(payment)).context["form"].initial["bank_name"]
        == (DETAILS["bank_name"])
    )
    response = client.post(invoice_url(payment), DETAILS | {"bank_name": "中国工商银行望京支行"})

    assert response.status_code == 302
    assert list(
        InvoiceRequest.objects.order_by("created_at", "id").values_list("status", "bank_name")
    ) == [("rejected", "中国工商银行北京望京支行"), ("requested", "中国工商银行望京支行")]
    assert BillingExport.objects.filter(kind=ExportKind.INVOICE_REQUEST).count() == 2


def test_the_database_keeps_one_open_request_per_payment(customer, payment):
    first = requested(customer, payment)

    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceRequest.objects.create(
            attempt=payment,
            requested_by=customer,
            **{name: getattr(first, name) for name in DETAILS},
        )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_requests_sent_at_once_make_one_request(customer, payment):
    def request_once(_i):
        try:
            requested(customer, payment)
        except InvoiceAlreadyRequested:
            return "refused"
        return "recorded"

    results = in_threads(5, request_once)

    assert sorted(results) == ["recorded"] + ["refused"] * 4
    assert InvoiceRequest.objects.count() == 1
    assert BillingExport.objects.filter(kind=ExportKind.INVOICE_REQUEST).count() == 1


def test_a_payment_refunded_in_full_cannot_have_an_invoice(client, customer, payment):
    clerk = StaffUserFactory()
    refund_request(attempt=payment, amount=payment.amount, reason="Moved out", by=clerk)
    client.force_login(customer)

    page = client.get(invoice_url(payment), HTTP_ACCEPT_LANGUAGE="en")
    response = client.post(invoice_url(payment), DETAILS, HTTP_ACCEPT_LANGUAGE="en", follow=True)

    assert page.context["form"] is None
    assert "refunded in full" in page.content.decode()
    assert "refunded in full" in response.content.decode()
    assert not InvoiceRequest.objects.exists()


# --- Who may ask ----------------------------------------------------------------------------------
def test_for_an_organisations_payment_the_form_starts_with_its_name_and_code(client, org):
    client.force_login(org["payer"].user)

    form = client.get(invoice_url(org["attempt"])).context["form"]

    assert form.initial["title"] == "华北示例科技有限公司"
    assert form.initial["tax_number"] == ORG_USCC
    assert form.initial["email"] == org["payer"].user.email


def test_an_administrator_of_the_organisation_may_request_it_too(client, org):
    admin = org["admin"].user
    client.force_login(admin)

    response = client.post(
        invoice_url(org["attempt"]),
        DETAILS | {"title": "华北示例科技有限公司", "tax_number": ORG_USCC},
    )

    assert response.status_code == 302
    request = InvoiceRequest.objects.get()
    assert (request.requested_by, request.tax_number) == (admin, ORG_USCC)


def test_an_administrator_without_two_factors_is_sent_to_set_them_up(client, org):
    admin = MembershipFactory(organisation=org["organisation"], role="admin")
    client.force_login(admin.user)

    response = client.get(invoice_url(org["attempt"]))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_activate_totp"))


@pytest.mark.parametrize("who", ["stranger", "other_member", "other_admin"])
def test_anyone_else_gets_not_found(client, org, who):
    if who == "stranger":
        user = UserFactory()
    elif who == "other_member":
        user = MembershipFactory(organisation=org["organisation"]).user
    else:
        other = MembershipFactory(role="admin")  # administrator of another organisation
        totp_enrol(other.user)
        user = other.user
    client.force_login(user)

    assert client.get(invoice_url(org["attempt"])).status_code == 404
    assert client.post(invoice_url(org["attempt"]), DETAILS).status_code == 404
    assert not InvoiceRequest.objects.exists()


def test_a_payment_that_did_not_succeed_has_no_invoice_page(client, customer):
    attempt = checkout.attempt_create(user=customer, bill_uuids=[own_bill(customer).uuid])
    client.force_login(customer)

    assert client.get(invoice_url(attempt)).status_code == 404
    assert client.post(invoice_url(attempt), DETAILS).status_code == 404


def test_a_personal_payment_is_not_an_administrators(client, customer, payment, org):
    client.force_login(org["admin"].user)

    assert client.get(invoice_url(payment)).status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(client, payment):
    response = client.get(invoice_url(payment))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


# --- The billing system's answer ------------------------------------------------------------------
def test_issued_is_recorded_once_and_shown_on_the_payment_and_in_the_history(
    client, api, issuer, customer, payment
):
    request = requested(customer, payment)

    first = report(
        api, issuer, request.uuid, status="issued", invoice_number="25117000000012345678"
    )
    again = report(
        api, issuer, request.uuid, status="issued", invoice_number="25117000000012345678"
    )

    assert first.status_code == 200 and again.status_code == 200
    assert first.json() == {
        "invoice_request": str(request.uuid),
        "payment_reference": payment.reference,
        "status": "issued",
        "invoice_number": "25117000000012345678",
        "note": "",
        "changed": True,
    }
    assert again.json()["changed"] is False
    events = list(AuditEvent.objects.filter(action="invoice.issued"))
    assert len(events) == 1
    assert events[0].actor_id is None
    assert '"client":"CIS invoicing"' in events[0].data
    request.refresh_from_db()
    assert (request.status, request.invoice_number) == ("issued", "25117000000012345678")

    client.force_login(customer)
    done = client.get(
        reverse("pay:done", kwargs={"attempt": payment.uuid}), HTTP_ACCEPT_LANGUAGE="en"
    )
    history = client.get(reverse("pay:history"), HTTP_ACCEPT_LANGUAGE="en")
    assert "Invoice number 25117000000012345678 has been issued" in done.content.decode()
    assert "The payment receipt is not a VAT invoice." in done.content.decode()
    assert "Invoice issued" in history.content.decode()


def test_the_payment_page_offers_the_request_until_one_is_made(client, customer, payment):
    client.force_login(customer)
    done_url = reverse("pay:done", kwargs={"attempt": payment.uuid})

    before = client.get(done_url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    requested(customer, payment)
    after = client.get(done_url, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Request a VAT invoice" in before and invoice_url(payment) in before
    assert "Request a VAT invoice" not in after
    assert "Invoice requested" in after


def test_a_rejection_needs_a_note_and_is_shown_with_it(client, api, issuer, customer, payment):
    request = requested(customer, payment)

    without = report(api, issuer, request.uuid, status="rejected")
    response = report(api, issuer, request.uuid, status="rejected", note="纳税人识别号与名称不符")

    assert without.status_code == 422
    assert response.status_code == 200 and response.json()["changed"] is True
    assert AuditEvent.objects.filter(action="invoice.rejected").count() == 1
    client.force_login(customer)
    done = client.get(
        reverse("pay:done", kwargs={"attempt": payment.uuid}), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "纳税人识别号与名称不符" in done.content.decode()
    assert "Request the invoice again" in done.content.decode()


def test_contradicting_answers_are_conflicts_and_change_nothing(api, issuer, customer, payment):
    request = requested(customer, payment)
    report(api, issuer, request.uuid, status="issued", invoice_number="0001")

    other_number = report(api, issuer, request.uuid, status="issued", invoice_number="0002")
    rejected = report(api, issuer, request.uuid, status="rejected", note="作废")

    assert other_number.status_code == 409 and rejected.status_code == 409
    request.refresh_from_db()
    assert (request.status, request.invoice_number) == ("issued", "0001")
    assert AuditEvent.objects.filter(action__startswith="invoice.").count() == 2


def test_issued_needs_an_invoice_number(api, issuer, customer, payment):
    request = requested(customer, payment)

    response = report(api, issuer, request.uuid, status="issued")

    assert response.status_code == 422
    assert "invoice_number" in response.json()["detail"]
    request.refresh_from_db()
    assert request.status == InvoiceStatus.REQUESTED


def test_an_unknown_status_or_request_is_refused(api, issuer, customer, payment):
    request = requested(customer, payment)

    assert report(api, issuer, request.uuid, status="paid").status_code == 422
    unknown = report(
        api, issuer, "7d1c3a52-0b7a-4a44-9c1e-6f3f5a1b2c3d", status="issued", invoice_number="1"
    )
    assert unknown.status_code == 404
    assert report(api, issuer, "not-a-uuid", status="issued", invoice_number="1").status_code == (
        422
    )


def test_a_client_without_the_scope_is_refused(api, customer, payment):
    request = requested(customer, payment)
    _client, token = integration_client_create(
        name="CIS reader", scopes=[IntegrationScope.PAYMENTS_READ]
    )

    response = report(api, token, request.uuid, status="issued", invoice_number="1")

    assert response.status_code == 403
    assert "invoices:write" in response.json()["detail"]
    request.refresh_from_db()
    assert request.status == InvoiceStatus.REQUESTED


def test_no_token_is_refused(api, customer, payment):
    request = requested(customer, payment)

    response = report(api, None, request.uuid, status="issued", invoice_number="1")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
