"""The customer's application pages as a person uses them: the documents listed before starting,
a draft saved and completed, a refused upload explained with nothing stored, submission, the
timeline with its deadline, answering a request with a file, withdrawing, downloading with safe
headers; and another person's case is "not found" everywhere."""

from datetime import datetime

import pytest
import time_machine
from django.urls import reverse

from applications.cases import case_accept, case_create, case_request_material, case_submit
from applications.kinds import kind_versions_current
from applications.models import Case, CaseDocument, CaseStatus
from portal.core.clock import BUSINESS_TIME_ZONE
from tests.applications.documents import pdf_bytes, png_bytes, upload, with_required_documents
from tests.factories import BindingFactory, StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=BUSINESS_TIME_ZONE)


@pytest.fixture(autouse=True)
def sgcc_2011(settings):
    settings.COMMITMENT_RULE_SET = "sgcc-2011"


def draft_for(user, **details) -> Case:
    return case_create(
        version=kind_versions_current()["new_connection"],
        customer_class="residential",
        applicant=user,
        details={"address": "世纪大道 100 号", "district": "浦东新区", **details},
    )


def submitted_for(user) -> Case:
    return case_submit(case=with_required_documents(draft_for(user)), actor=user)


def test_every_document_is_listed_before_the_customer_starts(client):
    client.force_login(UserFactory())

    page = client.get(
        reverse("applications:start"), {"kind": "new_connection", "customer_class": "lv_business"}
    )

    text = page.content.decode()
    for label in ("申请人身份证明", "用电地址房屋产权或使用权证明", "营业执照", "用电设备清单"):
        assert label in text
    assert "施工图" not in text and "场地平面图" not in text  # the site plan: high voltage only
    assert not Case.objects.exists()


def test_a_resident_starts_fills_uploads_and_submits(client):
    resident = UserFactory()
    client.force_login(resident)

    started = client.post(
        reverse("applications:start"),
        {"kind": "new_connection", "customer_class": "residential", "account": ""},
    )
    case = Case.objects.get(applicant=resident)
    assert started.url == reverse("applications:draft", kwargs={"uuid": case.uuid})

    saved = client.post(
        started.url,
        {
            "contact_name": "张伟",
            "contact_phone": "13800138000",
            "address": "世纪大道 100 号 1201 室",
            "district": "浦东新区",
            "capacity_kva": "12",
            "review": "1",
        },
    )
    assert saved.url == reverse("applications:review", kwargs={"uuid": case.uuid})
    review = client.get(saved.url).content.decode()
    assert "世纪大道 100 号 1201 室" in review
    assert "申请人身份证明" in review  # still needed: no submit button yet
    assert "提交申请" not in review

    upload_url = reverse("applications:upload", kwargs={"uuid": case.uuid})
    client.post(upload_url, {"document": "identity", "file": upload("id.pdf", pdf_bytes())})
    client.post(
        upload_url,
        {"document": "property_proof", "file": upload("deed.png", png_bytes(), "image/png")},
    )
    submitted = client.post(saved.url)

    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED
    assert submitted.url == reverse("applications:detail", kwargs={"uuid": case.uuid})
    detail = client.get(submitted.url).content.decode()
    assert case.reference in detail
    assert "已提交，等待受理" in detail


def test_a_refused_upload_is_explained_and_nothing_is_stored(client, settings):
    resident = UserFactory()
    client.force_login(resident)
    case = draft_for(resident)

    answer = client.post(
        reverse("applications:upload", kwargs={"uuid": case.uuid}),
        {"document": "identity", "file": upload("id.pdf", b"<html><body>hi</body></html>")},
    )

    assert answer.status_code == 400
    assert "只接受 PDF、JPEG 和 PNG 文件" in answer.content.decode() or (
        "Only PDF, JPEG and PNG" in answer.content.decode()
    )
    assert not CaseDocument.objects.exists()
    assert not (settings.MEDIA_ROOT / "applications").exists()


def test_the_timeline_shows_the_deadline_and_the_request_and_takes_an_answer(client):
    resident, staff = UserFactory(), StaffUserFactory()
    with time_machine.travel(beijing(2026, 6, 1, 10, 0), tick=False):
        case = case_accept(case=submitted_for(resident), actor=staff)
    client.force_login(resident)
    url = reverse("applications:detail", kwargs={"uuid": case.uuid})

    with time_machine.travel(beijing(2026, 6, 1, 11, 0), tick=False):
        page = client.get(url).content.decode()
    assert "受理" in page
    assert "withdraw" not in page  # accepted: no withdrawing

    with time_machine.travel(beijing(2026, 6, 2, 9, 0), tick=False):
        case_request_material(case=case, actor=staff, text="请补充房产证明的清晰扫描件。")
        page = client.get(url).content.decode()
    assert "请补充房产证明的清晰扫描件。" in page
    assert reverse("applications:answer", kwargs={"uuid": case.uuid}) in page

    with time_machine.travel(beijing(2026, 6, 3, 9, 0), tick=False):
        answered = client.post(
            reverse("applications:answer", kwargs={"uuid": case.uuid}),
            {
                "text": "已上传新的扫描件。",
                "document": "property_proof",
                "file": upload("deed-2.pdf", pdf_bytes()),
            },
        )
    assert answered.status_code == 302
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS
    assert case.documents.filter(name="deed-2.pdf", answer__isnull=False).exists()


def test_a_submitted_case_can_be_withdrawn_from_its_page(client):
    resident = UserFactory()
    case = submitted_for(resident)
    client.force_login(resident)

    client.post(reverse("applications:withdraw", kwargs={"uuid": case.uuid}), {"reason": "搬家"})

    case.refresh_from_db()
    assert case.status == CaseStatus.WITHDRAWN


def test_a_document_downloads_as_an_attachment_with_safe_headers(client):
    resident = UserFactory()
    case = submitted_for(resident)
    doc = case.documents.first()
    client.force_login(resident)

    response = client.get(
        reverse("applications:document", kwargs={"uuid": case.uuid, "document": doc.uuid})
    )

    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert b"".join(response.streaming_content) == png_bytes()


def test_a_case_staff_opened_appears_once_the_customer_binds_the_account(client):
    staff, resident = StaffUserFactory(), UserFactory()
    binding = BindingFactory(user=resident)
    case = case_create(
        version=kind_versions_current()["meter_test"],
        customer_class="residential",
        applicant=None,
        account=binding.account,
        channel="hotline",
        opened_by=staff,
    )
    client.force_login(resident)

    assert case.reference in client.get(reverse("applications:list")).content.decode()


def test_another_persons_case_is_not_found_everywhere(client):
    owner, stranger = UserFactory(), UserFactory()
    case = submitted_for(owner)
    draft = draft_for(owner)
    doc = case.documents.first()
    client.force_login(stranger)

    gets = [
        reverse("applications:detail", kwargs={"uuid": case.uuid}),
        reverse("applications:draft", kwargs={"uuid": draft.uuid}),
        reverse("applications:review", kwargs={"uuid": draft.uuid}),
        reverse("applications:document", kwargs={"uuid": case.uuid, "document": doc.uuid}),
    ]
    posts = [
        reverse("applications:withdraw", kwargs={"uuid": case.uuid}),
        reverse("applications:answer", kwargs={"uuid": case.uuid}),
        reverse("applications:upload", kwargs={"uuid": draft.uuid}),
        reverse("applications:document_remove", kwargs={"uuid": case.uuid, "document": doc.uuid}),
    ]
    assert [client.get(url).status_code for url in gets] == [404] * len(gets)
    assert [client.post(url).status_code for url in posts] == [404] * len(posts)
    assert case.reference not in client.get(reverse("applications:list")).content.decode()
    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED
