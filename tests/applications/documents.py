"""Real files for the upload tests: a PDF made by pypdf, a PNG by Pillow, and hostile ones."""

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from pypdf import PdfWriter
from pypdf.actions import JavaScript

from applications.cases import case_document_add, documents_missing
from applications.kinds import documents_for


def pdf_bytes(*, javascript: str = "", attachment: bytes = b"") -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    if javascript:
        writer.add_open_action(JavaScript(javascript))
    if attachment:
        writer.add_attachment("payload.exe", attachment)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def png_bytes(size=(32, 24)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def upload(name: str, content: bytes, content_type: str = "application/pdf"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def with_required_documents(case):
    """Upload a small scan for every document the case's kind requires of its class."""
    for doc in documents_for(version=case.kind_version, customer_class=case.customer_class):
        if doc.required:
            case_document_add(
                case=case,
                document=doc.document,
                upload=upload(f"{doc.document}.png", png_bytes(), "image/png"),
                actor=case.applicant,
            )
    assert documents_missing(case) == []
    return case
