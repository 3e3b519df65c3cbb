"""A receipt's or refund note's PDF, rendered from its snapshot alone (payments/receipts.py issues
them and says how), stored once with its SHA-256, and read back."""

import hashlib
import logging

import qrcode
from django.core.files.base import ContentFile
from django.db import transaction

from portal.core import clock

from .models import Receipt, ReceiptKind
from .pdf import render_pdf

logger = logging.getLogger("powerhall.payments")

DOCUMENT_LANGUAGE = "zh-hans"
"""Receipts are printed in Chinese, whatever language the payer uses the portal in."""
TEMPLATES = {
    ReceiptKind.PAYMENT: "payments/pdf/receipt.html",
    ReceiptKind.REFUND: "payments/pdf/refund_note.html",
}
QR_QUIET_ZONE = 4  # modules of white around the code, as the QR standard asks


def _qr_svg(url: str) -> str:
    """``url`` as a QR code: an SVG of one stroked path, each row's run of dark modules one
    line. (qrcode's own SVG images draw a square per module, which made WeasyPrint take several
    times longer to write the PDF.)"""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(url)
    code.make(fit=True)
    matrix = code.get_matrix()
    runs = []
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            start = x
            while x < len(row) and row[x]:
                x += 1
            runs.append(f"M{start} {y}.5h{x - start}")
    size = len(matrix) + 2 * QR_QUIET_ZONE
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="-{QR_QUIET_ZONE} -{QR_QUIET_ZONE} {size} {size}">'
        f'<path d="{"".join(runs)}" stroke="#000" stroke-width="1"/></svg>'
    )


def _local(text: str) -> str:
    """An ISO time from a snapshot (already Asia/Shanghai) as printed: 2026-11-27 10:15:02."""
    return text[:19].replace("T", " ")


def receipt_document(snapshot: dict) -> bytes:
    """The PDF of a receipt or refund note, from its snapshot alone."""
    times = {
        name: _local(snapshot[name]) for name in ("paid_at", "refunded_at") if snapshot.get(name)
    }
    if snapshot.get("payment", {}).get("paid_at"):
        times["original_paid_at"] = _local(snapshot["payment"]["paid_at"])
    context = {"s": snapshot, "qr_svg": _qr_svg(snapshot["verify_url"]), **times}
    return render_pdf(TEMPLATES[snapshot["kind"]], context, language=DOCUMENT_LANGUAGE)


def receipt_store_pdf(*, receipt_id: int) -> Receipt:
    """Render and store the PDF of a receipt that has none; a rendered one is returned as it is
    (idempotent: the task may run twice, or race a download)."""
    receipt = Receipt.objects.get(pk=receipt_id)
    if receipt.rendered_at:
        return receipt
    data = receipt_document(receipt.snapshot)  # outside the lock: it takes a while
    with transaction.atomic():
        receipt = Receipt.objects.select_for_update().get(pk=receipt_id)
        if receipt.rendered_at:
            return receipt  # stored by someone else while we rendered: theirs stands
        receipt.pdf.save(f"{receipt.number}.pdf", ContentFile(data), save=False)
        receipt.pdf_sha256 = hashlib.sha256(data).hexdigest()
        receipt.rendered_at = clock.now()
        receipt.save(update_fields=["pdf", "pdf_sha256", "rendered_at"])
    return receipt


def receipt_pdf(receipt: Receipt) -> bytes:
    """The receipt's PDF as stored, rendering and storing it first if the task has not yet.
    (The notifications attach it to the "payment received" e-mail.)"""
    if not receipt.rendered_at:
        receipt = receipt_store_pdf(receipt_id=receipt.pk)
    with receipt.pdf.open("rb") as stored:
        data = stored.read()
    if hashlib.sha256(data).hexdigest() != receipt.pdf_sha256:
        # Never re-rendered to cover it up: the stored document was changed, staff must look.
        logger.error("receipt %s: the stored PDF does not match its SHA-256", receipt.number)
    return data
