"""Applications in a real browser, in Chinese and in English: a resident starts a residential new
connection (every document listed before anything is created), fills the draft, uploads a photo
and a PDF, and submits; a member of the Service staff, signed in to the back office with their
authenticator code, accepts it and moves it through its steps to energised and archived; the
billing system is told, staff record the account number it gives, and once the account import
brings the account the resident finds it on their dashboard and the case completed with its
history. And a business member without the apply scope is
refused.

Elements are found by field names, form actions, URLs and data attributes, not by wording; the
labels compared are the application's own, translated.
"""

import io

import pytest
from django.urls import reverse
from django.utils import translation

from applications.cases import case_create
from applications.kinds import kind_versions_current, steps_for
from applications.models import Case, CaseStatus, DocumentType, Step
from payments.models import BillingExport
from portal.account_import import accounts_import
from portal.roles import SERVICE_STAFF, roles_ensure
from tests.applications.documents import pdf_bytes, png_bytes
from tests.browser.journey import (
    back_office_on_postgresql,
    path_of,
    settled,
    sign_in,
    sign_in_to_the_back_office,
    submit,
)
from tests.factories import (
    MemberScopeFactory,
    MembershipFactory,
    OrganisationFactory,
    OrgBindingFactory,
    ServiceAccountFactory,
    StaffUserFactory,
    UserFactory,
    totp_enrol,
)
from tests.portal.test_account_import import csv_file, csv_row

QUEUE = "/cms-admin/applications/"
NEW = "3100880001"  # the account number the billing system gives the new connection


def label(choice, language: str) -> str:
    with translation.override(language):
        return str(choice.label)


@pytest.mark.browser
@back_office_on_postgresql
def test_resident_applies_staff_carry_it_to_archived_and_the_resident_sees_it_done(
    contexts, totp_code, tmp_path, settings
):
    settings.COMMITMENT_RULE_SET = "sgcc-2011"  # the supply plan reply has a time limit there
    language = contexts["language"]
    resident = UserFactory(email="zhao.lei@example.cn", name="赵磊")
    staff = StaffUserFactory()
    staff.groups.add(roles_ensure()[SERVICE_STAFF])
    secret = totp_enrol(staff)
    photo, scan = tmp_path / "身份证.png", tmp_path / "房产证.pdf"
    photo.write_bytes(png_bytes((640, 400)))
    scan.write_bytes(pdf_bytes())

    page = contexts["open_page"]()
    sign_in(page, resident.email)

    # Every document is listed before anything is created (一次性告知).
    page.goto(reverse("applications:start"))
    page.select_option('main select[name="kind"]', "new_connection")
    page.select_option('main select[name="customer_class"]', "residential")
    submit(page, 'form[method="get"]')
    checklist = page.locator('main section[aria-labelledby="checklist-title"]').inner_text()
    for document in (DocumentType.IDENTITY, DocumentType.PROPERTY_PROOF):
        assert label(document, language) in checklist
    assert not Case.objects.exists()
    submit(page, 'form[method="post"]')

    case = Case.objects.get(applicant=resident)
    assert path_of(page) == reverse("applications:draft", kwargs={"uuid": case.uuid})
    page.fill('main input[name="contact_phone"]', "+8613800138111")
    page.fill('main input[name="address"]', "朝阳区望京西园三区 318 号楼 1 单元 101")
    page.fill('main input[name="district"]', "朝阳区")
    page.fill('main input[name="capacity_kva"]', "12")
    draft_url = reverse("applications:draft", kwargs={"uuid": case.uuid})
    submit(page, f'form[action="{draft_url}"]', "button[type=submit]:not([name])")
    upload_url = reverse("applications:upload", kwargs={"uuid": case.uuid})
    for document, path in (("identity", photo), ("property_proof", scan)):
        page.select_option(f'main form[action="{upload_url}"] select[name="document"]', document)
        page.set_input_files(f'main form[action="{upload_url}"] input[name="file"]', str(path))
        submit(page, f'form[action="{upload_url}"]')
        assert path_of(page) == draft_url
    assert sorted(case.documents.values_list("content_type", flat=True)) == [
        "application/pdf",
        "image/png",
    ]
    with page.expect_navigation():
        page.locator(
            f'main a[href="{reverse("applications:review", kwargs={"uuid": case.uuid})}"]'
        ).click()
    submit(page, "form.form--bare")
    detail_url = reverse("applications:detail", kwargs={"uuid": case.uuid})
    assert path_of(page) == detail_url
    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED and case.address.startswith("朝阳区望京")

    # Staff sign in to the back office with their authenticator code and work the case.
    desk = contexts["open_page"]()
    sign_in_to_the_back_office(desk, staff, secret, QUEUE, totp_code)
    with desk.expect_navigation():
        desk.locator(f'a:text-is("{case.reference}")').first.click()
    inspect = f"{QUEUE}inspect/{case.pk}/"
    assert path_of(desk) == inspect
    settled(desk)
    submit(desk, 'form:has(input[name="action"][value="accept"])')
    settled(desk)
    steps = [s.step for s in steps_for(version=case.kind_version, customer_class="residential")]
    assert "design_review" not in steps  # high voltage only
    for step in steps[1:]:
        desk.select_option('main form:has(input[name="action"][value="advance"]) select', step)
        submit(desk, 'form:has(input[name="action"][value="advance"])')
        assert path_of(desk) == inspect
        settled(desk)
        case.refresh_from_db()
        assert case.step == step
    assert case.status == CaseStatus.COMPLETED
    assert BillingExport.objects.get().payload["application"] == case.reference

    # The billing system opens the account; staff record its number, the import brings it.
    desk.fill('main form:has(input[name="action"][value="account"]) input[name="number"]', NEW)
    submit(desk, 'form:has(input[name="action"][value="account"])')
    settled(desk)
    assert NEW in desk.locator("main").inner_text()
    rows = csv_file(csv_row(NEW, holder_name="赵磊", address=case.address, district="朝阳区"))
    accounts_import(stream=io.BytesIO(rows.encode()), fmt="csv", file_name="cis.csv")

    # The new account is on the resident's dashboard.
    page.goto(reverse("me:dashboard"))
    assert NEW in page.locator("main").inner_text()

    # The resident sees it completed, with every step on its history.
    page.goto(detail_url)
    main = page.locator("main").inner_text()
    assert label(CaseStatus.COMPLETED, language) in main
    history = page.locator('main section[aria-labelledby="history-title"]').inner_text()
    for step in (Step.ENERGISED, Step.ARCHIVED):
        assert label(step, language) in history
    assert (
        page.locator('main section[aria-labelledby="history-title"] li').count() >= len(steps) + 2
    )
    page.goto(reverse("applications:list"))
    assert case.reference in page.locator("main").inner_text()


@pytest.mark.browser
def test_a_business_member_without_the_apply_scope_is_refused(contexts):
    organisation = OrganisationFactory(name="示例商贸有限公司")
    binding = OrgBindingFactory(
        organisation=organisation,
        account=ServiceAccountFactory(number="5200000301", customer_class="lv_business"),
    )
    admin = MembershipFactory(organisation=organisation, role="admin").user
    member = MembershipFactory(organisation=organisation, user=UserFactory(name="周会计"))
    MemberScopeFactory(membership=member, binding=binding, can_pay=True)  # view and pay only
    case = case_create(
        version=kind_versions_current()["capacity_increase"],
        customer_class="lv_business",
        applicant=admin,
        organisation=organisation,
        account=binding.account,
        details={"address": binding.account.address},
    )

    page = contexts["open_page"]()
    sign_in(page, member.user.email)
    page.goto(reverse("org:applications", kwargs={"org": organisation.uuid}))
    assert page.locator("main [data-apply-refused]").count() == 1
    assert case.reference not in page.locator("main").inner_text()
    assert (
        page.locator(
            f'main a[href="{reverse("org:application_start", kwargs={"org": organisation.uuid})}"]'
        ).count()
        == 0
    )

    page.goto(reverse("org:application_start", kwargs={"org": organisation.uuid}))
    assert page.locator("main [data-apply-refused]").count() == 1
    assert page.locator('main select[name="kind"]').count() == 0

    response = page.goto(reverse("applications:detail", kwargs={"uuid": case.uuid}))
    assert response.status == 404
