"""Service staff edit the kinds of application in the back office (/cms-admin/application-kinds/
and /cms-admin/kind-versions/): a kind is opened or closed, a version's steps and documents are
edited inline and every change is audited; a version applications were made with is never
changed in place, and the next version, a copy of the newest, is what new applications use."""

import json

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse

from applications.cases import case_create, case_withdraw
from applications.kind_admin import version_data
from applications.kinds import documents_for, kind_versions_current, steps_for
from applications.models import ApplicationKind, KindVersion
from portal.core.errors import InvalidInput
from portal.models import AuditEvent
from portal.roles import EDITORS, roles_ensure
from tests.applications.test_queue import submitted
from tests.factories import PASSWORD, StaffUserFactory, UserFactory, totp_enrol

pytestmark = pytest.mark.django_db

KINDS = "/cms-admin/application-kinds/"
VERSIONS = "/cms-admin/kind-versions/"


def form_data(response) -> dict:
    """The version form's fields as the browser would submit them untouched: ticked checkboxes
    of one name as a list (the empty inline-form template left out)."""
    soup = BeautifulSoup(response.content, "html.parser")
    form = next(f for f in soup.find_all("form") if f.find(attrs={"name": "commitment"}))
    data: dict = {}
    for field in form.find_all(["input", "select", "textarea"]):
        name = field.get("name")
        if not name or "__prefix__" in name or field.get("type") in ("submit", "button"):
            continue
        if field.name == "select":
            chosen = field.find("option", selected=True)
            data[name] = chosen["value"] if chosen else ""
        elif field.get("type") == "checkbox":
            if field.has_attr("checked"):
                data.setdefault(name, []).append(field.get("value", "on"))
        elif field.name == "textarea":
            data[name] = field.text
        else:
            data[name] = field.get("value", "")
    return data


def row(data: dict, prefix: str, field: str, value: str) -> str:
    """The index of the inline row (``steps``, ``documents``) whose ``field`` is ``value``."""
    return next(
        key.split("-")[1]
        for key, found in data.items()
        if key.startswith(f"{prefix}-") and key.endswith(f"-{field}") and found == value
    )


def messages_on(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def page_messages(client) -> str:
    """The messages the next page shows (after a redirect)."""
    return messages_on(client.get(KINDS))


def version(category: str) -> KindVersion:
    return kind_versions_current()[category]


def kind_row(page: str, label: str) -> list[str]:
    soup = BeautifulSoup(page, "html.parser")
    tr = next(tr for tr in soup.select("tbody tr") if label in tr.get_text())
    return [td.get_text(" ", strip=True) for td in tr.find_all("td")]


# --- The list of kinds and opening or closing one -------------------------------------------------
def test_the_list_shows_each_kind_with_its_newest_version_and_open_applications(
    client, service_staff
):
    submitted()
    submitted()
    case_create(version=version("new_connection"), customer_class="residential", applicant=None)
    ApplicationKind.objects.filter(category="fault_report").update(active=False)

    page = client.get(KINDS).content.decode()

    connection = kind_row(page, "New connection")
    assert "v1" in connection and "Yes" in connection
    assert "2" in connection  # two submitted; the draft is not open yet
    fault = kind_row(page, "Fault report")
    assert "No" in fault and "0" in fault
    assert f"{VERSIONS}new/?kind={ApplicationKind.objects.get(category='complaint').pk}" in page


def test_staff_close_a_kind_to_applications_and_the_change_is_audited(client, service_staff):
    fault = ApplicationKind.objects.get(category="fault_report")
    fault_v1 = version("fault_report")

    response = client.post(f"{KINDS}edit/{fault.pk}/", {})  # "open to applications" unticked

    assert response.status_code == 302
    assert "fault_report" not in kind_versions_current()
    with pytest.raises(InvalidInput):  # staff on the phone hold the version as it is now
        case_create(
            version=KindVersion.objects.get(pk=fault_v1.pk),
            customer_class="residential",
            applicant=UserFactory(),
        )
    event = AuditEvent.objects.get(action="kinds.kind_updated")
    assert event.actor_id == service_staff.pk
    assert json.loads(event.data)["after"] == {"category": "fault_report", "active": False}


def test_nobody_adds_or_deletes_a_kind_in_the_back_office(client, service_staff):
    complaint = ApplicationKind.objects.get(category="complaint")

    assert client.get(KINDS).status_code == 200
    assert client.get(f"{KINDS}new/").status_code in (302, 403)
    assert client.post(f"{KINDS}delete/{complaint.pk}/").status_code in (302, 403)
    assert ApplicationKind.objects.filter(pk=complaint.pk).exists()


# --- Editing a version ----------------------------------------------------------------------------
def test_staff_edit_an_unused_version_and_the_change_is_audited(client, service_staff):
    complaint = version("complaint")
    edit = f"{VERSIONS}edit/{complaint.pk}/"
    data = form_data(client.get(edit))
    answered = row(data, "steps", "step", "answered")
    data |= {
        f"steps-{answered}-commitment": "complaint_answer",
        f"steps-{answered}-customer_classes": ["lv_business", "hv_single", "hv_dual"],
        "documents-TOTAL_FORMS": "1",
        "documents-0-id": "",
        "documents-0-document": "identity",
        "documents-0-required": "on",
    }

    response = client.post(edit, data)

    assert response.status_code == 302, messages_on(response)
    step = complaint.steps.get(step="answered")
    assert (step.commitment, step.customer_classes) == (
        "complaint_answer",
        ["lv_business", "hv_single", "hv_dual"],
    )
    assert [s.step for s in steps_for(version=complaint, customer_class="residential")] == [
        "accepted",
        "handling",
        "archived",
    ]
    assert [d.document for d in documents_for(version=complaint, customer_class="hv_dual")] == [
        "identity"
    ]
    event = AuditEvent.objects.get(action="kinds.version_updated")
    assert event.actor_id == service_staff.pk
    change = json.loads(event.data)
    assert change["before"]["documents"] == []
    assert [3, "answered", ["lv_business", "hv_single", "hv_dual"], "complaint_answer", ""] in (
        change["after"]["steps"]
    )


def test_the_edit_page_ticks_the_classes_a_step_is_for(client, service_staff):
    data = form_data(client.get(f"{VERSIONS}edit/{version('new_connection').pk}/"))

    design = row(data, "steps", "step", "design_review")
    survey = row(data, "steps", "step", "site_survey")
    assert data[f"steps-{design}-customer_classes"] == ["hv_single", "hv_dual"]
    assert f"steps-{survey}-customer_classes" not in data  # none ticked: every class


@pytest.mark.parametrize("how", ["draft", "withdrawn", "submitted"])
def test_a_version_applications_were_made_with_refuses_edit_and_delete(client, service_staff, how):
    connection = version("new_connection")
    if how == "submitted":
        submitted()
    else:
        applicant = UserFactory()
        case = case_create(version=connection, customer_class="residential", applicant=applicant)
        if how == "withdrawn":
            case_withdraw(case=case, actor=applicant)
    before = version_data(connection)
    edit = f"{VERSIONS}edit/{connection.pk}/"
    data = form_data(client.get(f"{VERSIONS}edit/{version('complaint').pk}/"))  # any full form

    shown = client.get(edit)
    posted = client.post(edit, data)
    delete_page = client.get(f"{VERSIONS}delete/{connection.pk}/")
    deleted = client.post(f"{VERSIONS}delete/{connection.pk}/")

    for response in (shown, posted, delete_page, deleted):
        assert response.status_code == 302
        assert response["Location"] == VERSIONS
    said = page_messages(client)
    assert "cannot be changed or deleted" in said and "Add a new version instead" in said
    connection = KindVersion.objects.get(pk=connection.pk)
    assert version_data(connection) == before
    assert not AuditEvent.objects.filter(action__startswith="kinds.").exists()


def test_the_refusal_offers_adding_the_next_version(client, service_staff):
    connection = version("new_connection")
    case_create(version=connection, customer_class="residential", applicant=UserFactory())

    client.get(f"{VERSIONS}edit/{connection.pk}/")
    page = client.get(VERSIONS).content.decode()

    assert f"{VERSIONS}new/?kind={connection.kind_id}" in page
    assert "Add the next version" in page


# --- The next version -----------------------------------------------------------------------------
def test_the_next_version_copies_the_newest_and_new_applications_use_it(client, service_staff):
    v1 = version("new_connection")
    earlier = case_create(version=v1, customer_class="residential", applicant=UserFactory())
    add = f"{VERSIONS}new/?kind={v1.kind_id}"
    form = client.get(add)
    data = form_data(form)
    assert "New connection v2" in form.content.decode()
    assert data["steps-TOTAL_FORMS"] == "9" and data["documents-TOTAL_FORMS"] == "6"
    assert data[f"steps-{row(data, 'steps', 'step', 'design_review')}-customer_classes"] == [
        "hv_single",
        "hv_dual",
    ]
    data[f"steps-{row(data, 'steps', 'step', 'site_survey')}-DELETE"] = "1"
    data[f"documents-{row(data, 'documents', 'document', 'authorisation')}-required"] = "on"

    response = client.post(add, data)

    assert response.status_code == 302, messages_on(response)
    v2 = KindVersion.objects.get(kind=v1.kind, number=2)
    assert response["Location"] == VERSIONS
    assert kind_versions_current()["new_connection"] == v2
    later = case_create(
        version=kind_versions_current()["new_connection"],
        customer_class="residential",
        applicant=UserFactory(),
    )
    assert later.kind_version == v2
    new_steps = [s.step for s in steps_for(version=v2, customer_class="residential")]
    assert new_steps == [
        "accepted",
        "supply_plan_reply",
        "completion_inspection",
        "contract_signed",
        "energised",
        "archived",
    ]
    assert [s.step for s in steps_for(version=v2, customer_class="hv_dual")][2:4] == [
        "design_review",
        "mid_inspection",
    ]
    assert v2.steps.get(step="energised").commitment == "energising"
    assert all(d.required for d in v2.documents.all()) and v2.documents.count() == 6
    earlier.refresh_from_db()
    assert earlier.kind_version == v1
    old_steps = steps_for(version=earlier.kind_version, customer_class="residential")
    assert [s.step for s in old_steps][1] == "site_survey"
    assert v1.steps.count() == 9 and not v1.documents.get(document="authorisation").required
    event = AuditEvent.objects.get(action="kinds.version_created")
    assert event.actor_id == service_staff.pk
    assert json.loads(event.data)["number"] == 2


def test_opening_the_next_version_saves_nothing_until_staff_save(client, service_staff):
    complaint = ApplicationKind.objects.get(category="complaint")

    client.get(f"{VERSIONS}new/?kind={complaint.pk}")

    assert complaint.versions.count() == 1
    assert client.get(f"{VERSIONS}new/").status_code == 302  # no kind chosen: the list of kinds


def test_a_newer_unused_version_may_be_deleted_and_the_kind_goes_back_to_the_one_before(
    client, service_staff
):
    v1 = version("complaint")
    add = f"{VERSIONS}new/?kind={v1.kind_id}"
    assert client.post(add, form_data(client.get(add))).status_code == 302
    v2 = version("complaint")
    assert v2.number == 2

    response = client.post(f"{VERSIONS}delete/{v2.pk}/")

    assert response.status_code == 302
    assert version("complaint") == v1
    assert AuditEvent.objects.filter(action="kinds.version_deleted").count() == 1
    refused = client.post(f"{VERSIONS}delete/{v1.pk}/")
    assert refused.status_code == 302
    assert "the only version of Complaint" in page_messages(client)
    assert KindVersion.objects.filter(pk=v1.pk).exists()


# --- What the form refuses ------------------------------------------------------------------------
def refused(client, data: dict, complaint: KindVersion) -> str:
    before = version_data(complaint)
    response = client.post(f"{VERSIONS}edit/{complaint.pk}/", data)
    assert response.status_code == 200
    assert version_data(KindVersion.objects.get(pk=complaint.pk)) == before
    return messages_on(response)


def test_nonsense_is_refused_with_a_message_and_nothing_changes(client, service_staff):
    complaint = version("complaint")
    data = form_data(client.get(f"{VERSIONS}edit/{complaint.pk}/"))
    handling = row(data, "steps", "step", "handling")
    answered = row(data, "steps", "step", "answered")
    archived = row(data, "steps", "step", "archived")

    same_place = refused(client, data | {f"steps-{answered}-position": "2"}, complaint)
    assert "Two steps have position 2" in same_place
    twice = refused(client, data | {f"steps-{answered}-step": "handling"}, complaint)
    assert "Being handled is listed more than once" in twice
    residential_only = {
        f"steps-{i}-customer_classes": ["residential"] for i in (handling, answered, archived)
    }
    one_step = refused(client, data | residential_only, complaint)
    assert "High-voltage, dual supply customers would have fewer than two steps" in one_step
    assert "Residential customers" not in one_step
    every_step_deleted = {f"steps-{i}-DELETE": "1" for i in range(int(data["steps-TOTAL_FORMS"]))}
    assert "Add the steps" in refused(client, data | every_step_deleted, complaint)
    two_identities = data | {
        "documents-TOTAL_FORMS": "2",
        "documents-0-id": "",
        "documents-0-document": "identity",
        "documents-1-id": "",
        "documents-1-document": "identity",
    }
    assert "listed more than once: list each document once" in refused(
        client, two_identities, complaint
    )


# --- Who may --------------------------------------------------------------------------------------
def test_editors_see_no_kinds_and_are_refused_every_page(client, totp_code):
    editor = StaffUserFactory()
    editor.groups.add(roles_ensure()[EDITORS])
    secret = totp_enrol(editor)
    client.post(reverse("account_login"), {"login": editor.email, "password": PASSWORD})
    client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    complaint = version("complaint")
    before = version_data(complaint)

    home = client.get("/cms-admin/")
    assert home.status_code == 200
    assert "Kinds of application" not in home.content.decode()
    for url in (
        KINDS,
        f"{KINDS}edit/{complaint.kind_id}/",
        VERSIONS,
        f"{VERSIONS}edit/{complaint.pk}/",
        f"{VERSIONS}new/?kind={complaint.kind_id}",
        f"{VERSIONS}delete/{complaint.pk}/",
    ):
        assert client.get(url).status_code in (302, 403), url
    assert client.post(f"{KINDS}edit/{complaint.kind_id}/", {}).status_code in (302, 403)
    assert client.post(f"{VERSIONS}delete/{complaint.pk}/").status_code in (302, 403)
    assert ApplicationKind.objects.get(pk=complaint.kind_id).active
    assert version_data(KindVersion.objects.get(pk=complaint.pk)) == before


def test_service_staff_see_kinds_in_the_menu(client, service_staff):
    assert "Kinds of application" in client.get("/cms-admin/").content.decode()
