"""Documents a customer uploads: judged by what they contain, stored under a random name only
when they pass, refused with a message the customer understands; nothing is stored for a refused
file; and a case is handed in only with every required document."""

import pytest
from django.core.files.storage import default_storage
from django.utils import translation

from applications.cases import case_create, case_document_add, case_submit
from applications.kinds import kind_versions_current
from applications.models import CaseDocument
from applications.uploads import clean_name
from portal.core.errors import InvalidInput
from tests.applications.documents import pdf_bytes, png_bytes, upload, with_required_documents
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    """The messages are asserted in English (the pages' tests read them in Chinese)."""
    with translation.override("en"):
        yield


@pytest.fixture
def draft():
    resident = UserFactory()
    return case_create(
        version=kind_versions_current()["new_connection"],
        customer_class="residential",
        applicant=resident,
    )


def stored_files(settings) -> list:
    root = settings.MEDIA_ROOT / "applications"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_pdf_and_a_photo_are_stored_under_random_names(draft, settings):
    pdf = case_document_add(
        case=draft,
        document="identity",
        upload=upload("身份证.pdf", pdf_bytes()),
        actor=draft.applicant,
    )
    photo = case_document_add(
        case=draft,
        document="property_proof",
        upload=upload("IMG_0001.PNG", png_bytes(), "image/png"),
        actor=draft.applicant,
    )

    assert (pdf.content_type, pdf.name) == ("application/pdf", "身份证.pdf")
    assert (photo.content_type, photo.name) == ("image/png", "IMG_0001.png")
    assert pdf.file.name.startswith(f"applications/{draft.uuid}/")
    assert "身份证" not in pdf.file.name and "IMG" not in photo.file.name
    assert default_storage.open(pdf.file.name).read() == pdf_bytes()
    assert len(stored_files(settings)) == 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("scan.pdf", b"<html><script>alert(1)</script></html>", "Only PDF, JPEG and PNG"),
        (
            "scan.pdf",
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
            "Only PDF, JPEG and PNG",
        ),
        ("scan.pdf", pdf_bytes(javascript="app.alert('hi');"), "scripts, actions or attached"),
        ("scan.pdf", pdf_bytes(attachment=b"MZ\x90\x00"), "scripts, actions or attached"),
        ("scan.pdf", b"%PDF-1.7\n" + b"garbage " * 100, "could not be read"),
        ("photo.png", png_bytes()[:60], "could not be read"),
        ("empty.pdf", b"", "The file is empty"),
    ],
    ids=[
        "html-as-pdf",
        "svg-as-pdf",
        "pdf-javascript",
        "pdf-attachment",
        "broken-pdf",
        "truncated-png",
        "empty",
    ],
)
def test_a_hostile_or_broken_file_is_refused_and_nothing_is_stored(
    draft, settings, name, content, message
):
    with pytest.raises(InvalidInput) as refused:
        case_document_add(
            case=draft, document="identity", upload=upload(name, content), actor=draft.applicant
        )

    assert message in str(refused.value.message)
    assert not CaseDocument.objects.exists()
    assert stored_files(settings) == []


def test_a_file_over_the_limit_is_refused(draft, settings):
    settings.APPLICATION_UPLOAD_MAX_BYTES = 1024 * 1024
    big = png_bytes(size=(2000, 2000)) + b"\0" * (1024 * 1024)

    with pytest.raises(InvalidInput, match="larger than 1 MB"):
        case_document_add(
            case=draft,
            document="identity",
            upload=upload("big.png", big, "image/png"),
            actor=draft.applicant,
        )
    assert stored_files(settings) == []


def test_a_path_in_the_name_goes_nowhere(draft):
    doc = case_document_add(
        case=draft,
        document="identity",
        upload=upload("../../../etc/passwd.pdf", pdf_bytes()),
        actor=draft.applicant,
    )

    assert doc.name == "passwd.pdf"
    assert ".." not in doc.file.name
    assert clean_name("..\\..\\boot.ini", "pdf") == "boot.pdf"
    assert clean_name("a\x00b<>.pdf", "png") == "a_b_.png"


def test_a_case_is_handed_in_only_with_every_required_document(draft):
    with pytest.raises(InvalidInput) as refused:
        case_submit(case=draft, actor=draft.applicant)
    message = str(refused.value.message)
    assert "Identity document of the applicant" in message
    assert "Proof of ownership or use of the premises" in message

    with_required_documents(draft)
    assert case_submit(case=draft, actor=draft.applicant).status == "submitted"
