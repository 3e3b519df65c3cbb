"""Documents customers upload with an application: checked by what they contain, never by their
name, before anything is stored (docs/applications.md, "Uploads").

- **Size.** Empty files and files over ``APPLICATION_UPLOAD_MAX_BYTES`` (10 MB) are refused.
- **Type.** libmagic reads the content: only PDF, JPEG and PNG pass. HTML or SVG renamed
  ``.pdf`` is HTML or SVG to libmagic, and is refused.
- **A real parse.** A PDF is opened with pypdf and walked: one that does not parse, is encrypted
  (it could not be checked), carries JavaScript, launch actions, automatic actions or attached
  files, or whose compressed streams would expand beyond ``MAX_PDF_INFLATED`` (a PDF bomb) is
  refused. An image is decoded by Pillow, within a pixel limit (no decompression bombs), and
  refused if it also carries web-page markup (an image that is also an HTML page or a script).
- **Storage.** Under a random name (``applications/<case>/<random>.<ext>``) in the default storage,
  which is private (local files outside the web root; object storage with private ACLs in
  production). The name the customer gave is kept, cleaned, only for the download.
"""

import hashlib
import os
import re
import secrets
import unicodedata
import zlib
from dataclasses import dataclass

import magic
from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image
from pypdf import PdfReader
from pypdf.errors import LimitReachedError, PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject

from portal.core.errors import InvalidInput

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 40-megapixel phone photo; beyond it Pillow's decoder is not run
ACCEPTED = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
# Keys of a PDF object that run something or carry something other than the page.
_ACTIVE_KEYS = frozenset(
    {"/JS", "/JavaScript", "/EmbeddedFile", "/EmbeddedFiles", "/RichMedia", "/XFA"}
)
# Actions (an /OpenAction or an /AA entry holds one) that run or send something. Going to a page
# or following a link is harmless and common in scans and office exports.
_ACTIVE_ACTIONS = frozenset(
    {
        "/JavaScript",
        "/Launch",
        "/SubmitForm",
        "/ImportData",
        "/GoToE",
        "/Rendition",
        "/Sound",
        "/Movie",
    }
)
_MAX_PDF_OBJECTS = 50_000
# What a PDF's Flate-compressed streams may expand to, together: a scanned page at 300 dpi in
# colour is about 26 MB, so a few pages of lossless scans fit; a PDF bomb (a small file whose
# streams expand to gigabytes) does not.
MAX_PDF_INFLATED = 256 * 1024 * 1024
# Web-page markup in an image: a picture that is also an HTML page or a script (a polyglot).
_MARKUP = re.compile(rb"<(?:script|html|body|svg|iframe|object|embed|\?php)\b|javascript:", re.I)
_NAME_RE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


@dataclass(frozen=True)
class Checked:
    content_type: str
    extension: str
    size: int
    sha256: str
    name: str
    """The customer's name for the file, cleaned: for the download only."""


def max_bytes() -> int:
    return getattr(settings, "APPLICATION_UPLOAD_MAX_BYTES", DEFAULT_MAX_BYTES)


def clean_name(name: str, extension: str) -> str:
    """A safe display name: no directories, no control or reserved characters, at most 100
    characters, ending in the extension the content has."""
    base = _NAME_RE.sub("_", os.path.basename((name or "").replace("\\", "/")))
    # Other invisible and direction-changing characters (a right-to-left override makes
    # "photo\u202egnp.pdf" read as "photofdp.png") are dropped, as Django drops them from names
    # that come over HTTP.
    base = "".join(ch for ch in base if ch.isprintable())
    base = unicodedata.normalize("NFC", base).strip(" ._")
    stem = os.path.splitext(base)[0][:90] or "document"
    return f"{stem}.{extension}"


def _refuse(message) -> InvalidInput:
    return InvalidInput(message)


def _inflated_size(data: bytes, budget: int) -> int:
    """How many bytes Flate-compressed ``data`` expands to, counted in steps of 1 MB and no
    further than just past ``budget``; a damaged stream counts what came out of it."""
    inflater = zlib.decompressobj()
    size = 0
    try:
        while data and size <= budget:
            size += len(inflater.decompress(data, 1024 * 1024))
            data = inflater.unconsumed_tail
    except zlib.error:
        pass
    return size


def _first_filter(stream: StreamObject):
    filters = stream.get("/Filter")
    if isinstance(filters, ArrayObject):
        return filters[0] if filters else None
    return filters


ACTIVE, TOO_LARGE = "active", "too large"


def _pdf_problem(reader: PdfReader) -> str | None:
    """ACTIVE if an object reachable from the document's root or trailer runs or embeds
    anything, TOO_LARGE if its compressed streams expand beyond MAX_PDF_INFLATED together;
    None for a plain PDF."""
    seen: set[tuple[int, int]] = set()
    stack = [reader.trailer]
    budget = MAX_PDF_INFLATED
    while stack:
        item = stack.pop()
        if isinstance(item, IndirectObject):
            ref = (item.idnum, item.generation)
            if ref in seen:
                continue
            seen.add(ref)
            if len(seen) > _MAX_PDF_OBJECTS:
                return ACTIVE
            item = item.get_object()
        if isinstance(item, DictionaryObject):
            if _ACTIVE_KEYS.intersection(item.keys()):
                return ACTIVE
            if item.get("/S") in _ACTIVE_ACTIONS:
                return ACTIVE
            if isinstance(item, StreamObject) and _first_filter(item) == "/FlateDecode":
                # The stream as stored in the file (pypdf keeps it in _data until decoded).
                budget -= _inflated_size(item._data, budget)
                if budget < 0:
                    return TOO_LARGE
            stack.extend(item.values())
        elif isinstance(item, ArrayObject):
            stack.extend(item)
    return None


def _check_pdf(upload) -> None:
    unreadable = _("The PDF could not be read. Save it again as a PDF, or upload a photo.")
    too_large = _(
        "The PDF is too large once opened. Save it again at a lower resolution, or upload photos."
    )
    try:
        reader = PdfReader(upload, strict=False)
        if reader.is_encrypted:
            raise _refuse(_("The PDF is protected by a password. Upload it without one."))
        if not reader.pages:
            raise _refuse(unreadable)
        problem = _pdf_problem(reader)
    except InvalidInput:
        raise
    except LimitReachedError:
        # pypdf's own bound on what one stream may expand to while it reads the file (an object
        # stream holding the page tree, say): a PDF bomb too.
        raise _refuse(too_large) from None
    except (PyPdfError, ValueError, KeyError, TypeError, RecursionError, OSError):
        raise _refuse(unreadable) from None
    if problem == ACTIVE:
        raise _refuse(
            _("The PDF contains scripts, actions or attached files. Upload a plain PDF or a photo.")
        )
    if problem == TOO_LARGE:
        raise _refuse(too_large)


def _check_image(upload) -> None:
    unreadable = _("The image could not be read. Upload a JPEG or PNG photo or scan.")
    too_large = _("The image is too large. Upload a smaller photo or scan.")
    try:
        with Image.open(upload) as image:
            if image.width * image.height > MAX_PIXELS:
                raise _refuse(too_large)
            image.verify()
        upload.seek(0)
        with Image.open(upload) as image:
            image.load()
    except InvalidInput:
        raise
    except Image.DecompressionBombError:
        # Pillow's own limit, at twice its MAX_IMAGE_PIXELS: dimensions far beyond ours.
        raise _refuse(too_large) from None
    except (OSError, ValueError, SyntaxError):
        raise _refuse(unreadable) from None
    upload.seek(0)
    if _MARKUP.search(upload.read()):
        raise _refuse(
            _("The image contains more than a picture. Upload a plain JPEG or PNG photo or scan.")
        )


def document_check(upload) -> Checked:
    """Check an uploaded file (a Django ``UploadedFile`` or any binary file with ``name`` and
    ``size``); ``InvalidInput`` with a message for the customer if it is refused."""
    size = upload.size
    limit = max_bytes()
    if not size:
        raise _refuse(_("The file is empty."))
    if size > limit:
        raise _refuse(
            _("The file is larger than %(limit)s MB. Upload a smaller scan or photo.")
            % {"limit": limit // (1024 * 1024)}
        )
    upload.seek(0)
    head = upload.read(8192)
    content_type = magic.from_buffer(head, mime=True)
    extension = ACCEPTED.get(content_type)
    if extension is None:
        raise _refuse(_("Only PDF, JPEG and PNG files are accepted."))
    upload.seek(0)
    if extension == "pdf":
        _check_pdf(upload)
    else:
        _check_image(upload)
    upload.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: upload.read(64 * 1024), b""):
        digest.update(chunk)
    upload.seek(0)
    return Checked(
        content_type=content_type,
        extension=extension,
        size=size,
        sha256=digest.hexdigest(),
        name=clean_name(getattr(upload, "name", ""), extension),
    )


def storage_name(*, case_uuid, extension: str) -> str:
    """A random name nobody can guess or choose."""
    return f"applications/{case_uuid}/{secrets.token_urlsafe(24)}.{extension}"
