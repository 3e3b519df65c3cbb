"""Demo applications for the demo users of ``seed_demo`` (registered as its seeder by
applications/hooks.py), one of each state a newcomer should see, all made through the case
services so their history, clocks, audit records and notices are what real ones leave behind:

- the resident (张晓明): a draft new connection with one document of two; a capacity increase of
  the home account, submitted; a new connection in progress at the supply plan reply, its clock
  running; a meter test of the home account waiting for their material (the clock stopped); a
  new connection completed and archived; and a disputed reading of the parents' account that
  staff opened when they phoned 95598, in progress;
- the organisation (华北示例科技有限公司): a capacity increase of its first business account,
  submitted by its administrator (the demo member holds no apply scope: they see none of it).

The documents are small real PNG files drawn here with Pillow, checked and stored like any
upload. Idempotent: a case is made only if no case of its kind has its address yet, so a second
run adds nothing.
"""

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageDraw

from portal.models import Organisation, ServiceAccount, User

from . import cases
from .kinds import documents_for, kind_versions_current
from .models import Case, CaseChannel

# The demo users and accounts seed_demo makes (portal/management/commands/seed_demo.py).
RESIDENT = "resident@demo.powerhall.cn"
BUSINESS_ADMIN = "bizadmin@demo.powerhall.cn"
STAFF = "staff@demo.powerhall.cn"
HOME, PARENTS, FIRST_BUSINESS = "3100000001", "3100000002", "5200000001"
ORGANISATION_USCC = "91110105MA01ABCD6J"

NEW_HOUSE = {
    "draft": ("朝阳区", "朝阳区望京西园三区 318 号楼 1 单元 101"),
    "in_progress": ("通州区", "通州区运河东大街 56 号院 2 号楼 1201"),
    "completed": ("海淀区", "海淀区清河中街 68 号 3 号楼 502"),
}


def scan_png(label: str) -> bytes:
    """A small picture standing for a scanned document: a page with a header band and lines."""
    image = Image.new("RGB", (240, 320), (250, 250, 246))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 239, 40), fill=(20, 83, 160))
    draw.text((12, 14), label[:28], fill=(255, 255, 255))
    for y in range(64, 300, 18):
        draw.line((16, y, 224, y), fill=(190, 190, 190), width=2)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _upload(case: Case, document: str, actor: User | None) -> None:
    upload = SimpleUploadedFile(f"{document}.png", scan_png(document), content_type="image/png")
    cases.case_document_add(case=case, document=document, upload=upload, actor=actor)


def _with_documents(case: Case, actor: User | None, *, only: int | None = None) -> Case:
    needed = [
        doc.document
        for doc in documents_for(version=case.kind_version, customer_class=case.customer_class)
        if doc.required
    ]
    for document in needed[:only]:
        _upload(case, document, actor)
    return case


def _exists(category: str, address: str) -> bool:
    return Case.objects.filter(category=category, address=address).exists()


def _new(category: str, applicant: User | None, *, account=None, address=None, **fields) -> Case:
    district, address = address or (account.district, account.address)
    return cases.case_create(
        version=kind_versions_current()[category],
        customer_class=account.customer_class if account else "residential",
        applicant=applicant,
        account=account,
        details={
            "contact_name": applicant.name if applicant else "",
            "contact_phone": applicant.phone if applicant else "",
            "address": address,
            "district": district,
            **fields,
        },
    )


def _submitted(case: Case, actor: User) -> Case:
    return cases.case_submit(case=_with_documents(case, actor), actor=actor)


def _advanced(case: Case, staff: User, *, through: list[str]) -> Case:
    case = cases.case_accept(case=case, actor=staff)
    for step in through:
        case = cases.case_advance(case=case, to=step, actor=staff)
    return case


def seed_applications(stdout=None) -> None:
    """Make the demo cases that are not there yet (see the module docstring)."""
    users = {u.email: u for u in User.objects.filter(email__in=[RESIDENT, BUSINESS_ADMIN, STAFF])}
    accounts = {
        a.number: a
        for a in ServiceAccount.objects.filter(number__in=[HOME, PARENTS, FIRST_BUSINESS])
    }
    if len(users) < 3 or len(accounts) < 3:
        return  # not the demo database: nothing to add to
    resident, admin, staff = users[RESIDENT], users[BUSINESS_ADMIN], users[STAFF]
    home, parents, shop = accounts[HOME], accounts[PARENTS], accounts[FIRST_BUSINESS]
    made = 0

    if not _exists("new_connection", NEW_HOUSE["draft"][1]):
        _with_documents(
            _new("new_connection", resident, address=NEW_HOUSE["draft"], capacity_kva="12"),
            resident,
            only=1,
        )
        made += 1
    if not _exists("capacity_increase", home.address):
        _submitted(_new("capacity_increase", resident, account=home, capacity_kva="16"), resident)
        made += 1
    if not _exists("new_connection", NEW_HOUSE["in_progress"][1]):
        case = _submitted(
            _new("new_connection", resident, address=NEW_HOUSE["in_progress"], capacity_kva="12"),
            resident,
        )
        _advanced(case, staff, through=["site_survey", "supply_plan_reply"])
        made += 1
    if not _exists("meter_test", home.address):
        case = _submitted(
            _new(
                "meter_test",
                resident,
                account=home,
                description="电表走字偏快，最近两个月电量明显比往年多。",
            ),
            resident,
        )
        case = cases.case_accept(case=case, actor=staff)
        cases.case_request_material(
            case=case,
            actor=staff,
            text="请上传电表表盘的照片（能看清表号和当前读数）。",
        )
        made += 1
    if not _exists("new_connection", NEW_HOUSE["completed"][1]):
        case = _submitted(
            _new("new_connection", resident, address=NEW_HOUSE["completed"], capacity_kva="8"),
            resident,
        )
        _advanced(
            case,
            staff,
            through=[
                "site_survey",
                "supply_plan_reply",
                "completion_inspection",
                "contract_signed",
                "energised",
                "archived",
            ],
        )
        made += 1
    if not _exists("disputed_reading", parents.address):
        case = cases.case_open_for_customer(
            version=kind_versions_current()["disputed_reading"],
            customer_class=parents.customer_class,
            account=parents,
            channel=CaseChannel.HOTLINE,
            staff=staff,
            details={
                "contact_name": resident.name,
                "contact_phone": resident.phone,
                "address": parents.address,
                "district": parents.district,
                "description": "客户来电：上月抄表读数与表计显示不符，请核实。",
            },
        )
        _advanced(case, staff, through=["handling"])
        made += 1
    organisation = Organisation.objects.filter(uscc=ORGANISATION_USCC).first()
    if organisation is not None and not _exists("capacity_increase", shop.address):
        case = cases.case_create(
            version=kind_versions_current()["capacity_increase"],
            customer_class=shop.customer_class,
            applicant=admin,
            organisation=organisation,
            account=shop,
            details={
                "contact_name": admin.name,
                "contact_phone": admin.phone,
                "address": shop.address,
                "district": shop.district,
                "capacity_kva": "250",
                "loads": ["中央空调, 120 kW", "服务器机房, 60 kW"],
            },
        )
        _submitted(case, admin)
        made += 1
    if made and stdout is not None:
        stdout.write(f"  demo applications: {made} made")
