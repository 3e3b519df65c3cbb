"""A case and the billing system: an energised new connection, a change of holder, a suspension
and a closing each send their message through the billing export, once and in the transaction
that moves the case; staff record the account number the billing system assigns, and the account
reaches the applicant's dashboard as soon as the account import brings it."""

import io
import threading

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import translation

from applications.cases import case_accept, case_advance, case_create, case_submit
from applications.connection import case_account_number_record
from applications.kinds import kind_versions_current
from applications.models import Case, EventKind
from payments.models import BillingExport
from portal.account_import import accounts_import
from portal.core.errors import InvalidInput, NotAllowed
from portal.integration import integration_client_create
from portal.models import AuditEvent, Binding, IntegrationScope, ProofMethod
from tests.applications.documents import with_required_documents
from tests.factories import (
    BindingFactory,
    MembershipFactory,
    OrganisationFactory,
    StaffUserFactory,
    UserFactory,
)
from tests.portal.test_account_import import csv_file, csv_row

pytestmark = pytest.mark.django_db

EXPORT = "/api/integration/v1/payments/export"
CONNECTION_STEPS = (
    "site_survey",
    "supply_plan_reply",
    "completion_inspection",
    "contract_signed",
    "energised",
)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def new_connection(applicant, *, organisation=None, customer_class="residential") -> Case:
    case = case_create(
        version=kind_versions_current()["new_connection"],
        customer_class=customer_class,
        applicant=applicant,
        organisation=organisation,
        details={
            "address": "浦东新区世纪大道 100 号",
            "district": "浦东新区",
            "contact_name": "王芳",
            "contact_phone": "13800138000",
            "capacity_kva": "8.0",
        },
    )
    case = case_submit(case=with_required_documents(case), actor=applicant)
    return case_accept(case=case, actor=StaffUserFactory())


def energised(case: Case, staff) -> Case:
    for step in CONNECTION_STEPS:
        case = case_advance(case=case, to=step, actor=staff)
    return case


def import_accounts(*numbers: str):
    rows = [csv_row(number, meter_number=f"M{number}") for number in numbers]
    stream = io.BytesIO(csv_file(*rows).encode())
    return accounts_import(stream=stream, fmt="csv", file_name="cis.csv")


def test_the_billing_system_hears_of_a_new_connection_once_it_is_energised(client):
    staff = StaffUserFactory()
    case = energised(new_connection(UserFactory()), staff)
    assert not BillingExport.objects.exists()  # at "energised": the meter is not in yet

    case = case_advance(case=case, to="archived", actor=staff)
    with pytest.raises(NotAllowed):  # a second click: the case is completed
        case_advance(case=case, to="archived", actor=staff)

    message = BillingExport.objects.get()
    assert message.kind == "connection"
    assert message.payload | {"done_on": "-"} == {
        "application": case.reference,
        "kind": "new_connection",
        "step": "energised",
        "customer_class": "residential",
        "account_number": "",
        "contact_name": "王芳",
        "contact_phone": "13800138000",
        "address": "浦东新区世纪大道 100 号",
        "district": "浦东新区",
        "capacity_kva": "8.0",
        "done_on": "-",
    }
    assert AuditEvent.objects.get(action="billing_message.connection").seq == message.seq

    # The billing system reads it from the same export as payments.
    _client, token = integration_client_create(name="CIS", scopes=[IntegrationScope.PAYMENTS_READ])
    answer = client.get(EXPORT, HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert [(m["kind"], m["data"]["application"]) for m in answer["messages"]] == [
        ("connection", case.reference)
    ]


@pytest.mark.parametrize(
    ("category", "steps", "kind"),
    [
        ("transfer", ("handling", "contract_signed", "archived"), "transfer"),
        ("suspension", ("handling", "archived"), "suspension"),
        ("closing", ("handling", "archived"), "closing"),
    ],
)
def test_a_transfer_a_suspension_and_a_closing_send_their_own_message(category, steps, kind):
    staff, resident = StaffUserFactory(), UserFactory()
    binding = BindingFactory(user=resident)
    case = case_create(
        version=kind_versions_current()[category],
        customer_class="residential",
        applicant=resident,
        account=binding.account,
    )
    case = case_accept(
        case=case_submit(case=with_required_documents(case), actor=resident), actor=staff
    )
    for step in steps:
        case = case_advance(case=case, to=step, actor=staff)

    message = BillingExport.objects.get()
    assert (message.kind, message.payload["account_number"]) == (kind, binding.account.number)
    assert Case.objects.get(pk=case.pk).status == "completed"


def test_a_failed_move_sends_nothing(monkeypatch):
    """The message and the move commit together: a move that fails after the message was
    written leaves no message behind."""
    staff = StaffUserFactory()
    case = energised(new_connection(UserFactory()), staff)

    def broken(*args, **kwargs):
        raise RuntimeError("the survey could not be scheduled")

    monkeypatch.setattr("applications.cases.survey_schedule", broken)
    with pytest.raises(RuntimeError):
        case_advance(case=case, to="archived", actor=staff)

    assert not BillingExport.objects.exists()
    assert Case.objects.get(pk=case.pk).step == "energised"


def test_the_account_number_recorded_before_the_import_binds_when_the_account_arrives(client):
    staff, resident = StaffUserFactory(), UserFactory()
    case = new_connection(resident)

    case = case_account_number_record(case=case, number="3100990001", actor=staff)
    assert (case.assigned_account_number, case.account) == ("3100990001", None)
    assert not Binding.objects.filter(user=resident).exists()

    report = import_accounts("3100990001", "3100990002")

    assert report.created == 2
    binding = Binding.objects.get(user=resident)
    assert (binding.account.number, binding.proof) == ("3100990001", ProofMethod.APPLICATION)
    case.refresh_from_db()
    assert case.account == binding.account
    # The import's own audit record is still its last write, after the binding's.
    last = AuditEvent.objects.order_by("-seq")[0]
    assert last.action == "accounts.imported"
    assert AuditEvent.objects.filter(action="binding.created", actor_id=None).count() == 1

    client.force_login(resident)
    assert "3100990001" in client.get(reverse("me:dashboard")).content.decode()
    timeline = client.get(reverse("applications:detail", args=[case.uuid])).content.decode()
    assert "您的新户号 3100990001 已加入您的户号列表" in timeline  # in the resident's Chinese

    # Importing the same file again binds nothing twice.
    import_accounts("3100990001", "3100990002")
    assert Binding.objects.filter(account=binding.account).count() == 1


def test_an_account_already_imported_is_bound_as_soon_as_staff_record_it():
    staff = StaffUserFactory()
    organisation = OrganisationFactory()
    member = MembershipFactory(organisation=organisation, role="admin").user
    import_accounts("3100990003")
    case = new_connection(member, organisation=organisation, customer_class="lv_business")

    case_account_number_record(case=case, number="3100990003", actor=staff)

    binding = Binding.objects.get(account__number="3100990003")
    assert (binding.organisation, binding.user, binding.bound_by) == (organisation, None, staff)
    assert Case.objects.get(pk=case.pk).events.filter(kind=EventKind.ACCOUNT).count() == 1


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("31009", "An account number is 6 to 20 digits."),
        ("３１００９９０００４", "An account number is 6 to 20 digits."),
        ("3100990004; drop", "An account number is 6 to 20 digits."),
    ],
)
def test_a_malformed_account_number_is_refused_and_nothing_changes(number, message):
    case = new_connection(UserFactory())
    with pytest.raises(InvalidInput) as refused:
        case_account_number_record(case=case, number=number, actor=StaffUserFactory())
    assert refused.value.message == message
    assert Case.objects.get(pk=case.pk).assigned_account_number == ""


def test_one_number_belongs_to_one_application_and_is_not_changed_once_recorded():
    staff = StaffUserFactory()
    first, second = new_connection(UserFactory()), new_connection(UserFactory())
    case_account_number_record(case=first, number="3100990005", actor=staff)

    with pytest.raises(InvalidInput) as refused:
        case_account_number_record(case=second, number="3100990005", actor=staff)
    assert refused.value.message == (
        f"Account number 3100990005 is recorded on application {first.reference}."
    )
    with pytest.raises(NotAllowed):
        case_account_number_record(case=first, number="3100990006", actor=staff)
    assert Case.objects.get(pk=first.pk).assigned_account_number == "3100990005"


def test_only_an_accepted_new_connection_takes_an_account_number():
    staff, resident = StaffUserFactory(), UserFactory()
    binding = BindingFactory(user=resident)
    complaint = case_create(
        version=kind_versions_current()["complaint"],
        customer_class="residential",
        applicant=resident,
        account=binding.account,
    )
    draft = case_create(
        version=kind_versions_current()["new_connection"],
        customer_class="residential",
        applicant=resident,
    )
    for case in (complaint, draft):
        with pytest.raises(NotAllowed):
            case_account_number_record(case=case, number="3100990007", actor=staff)


def test_staff_record_the_number_from_the_case_page(client, service_staff):
    case = new_connection(UserFactory())
    page = reverse("application_queue:inspect", args=[case.pk])
    action = reverse("application_queue:act", args=[case.pk])

    assert 'name="action" value="account"' in client.get(page).content.decode()
    client.post(action, {"action": "account", "number": "12"})
    assert "An account number is 6 to 20 digits." in client.get(page).content.decode()

    client.post(action, {"action": "account", "number": "3100990008"})
    shown = client.get(page).content.decode()
    assert "3100990008" in shown
    assert "waiting for the account import to bring it" in shown
    assert 'name="action" value="account"' not in shown  # recorded: the form is gone


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no row locks")
@pytest.mark.django_db(transaction=True)
def test_two_staff_recording_numbers_at_once_leave_one(django_db_blocker):
    case = new_connection(UserFactory())
    staff = [StaffUserFactory(), StaffUserFactory()]
    results = []

    def record(n):
        try:
            case_account_number_record(case=case, number=f"310099001{n}", actor=staff[n])
            results.append("recorded")
        except NotAllowed:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=record, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == ["recorded", "refused"]
    assert Case.objects.get(pk=case.pk).assigned_account_number in ("3100990010", "3100990011")
