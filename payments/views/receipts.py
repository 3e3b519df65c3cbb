"""Receipts and refund notes, /receipts/… (namespace "receipts").

- ``receipt_download``: the PDF, to the people who may see the payment (receipts.receipt_get_for:
  404 for anyone else), as an attachment named by its number. A receipt the background task has
  not rendered yet is rendered now, once; a rendered one is served as stored, never again.
- ``receipt_verify``: the public page the QR code opens (no sign-in): what proves the document
  genuine, or "not a valid receipt" (404); lookups are limited per IP (429).
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_safe

from portal.core.errors import RateLimited
from portal.middleware import client_ip

from .. import receipt_pdf, receipts
from .pay import PAGE_CSP


@login_required
@require_safe
@never_cache
def receipt_download(request, number):
    receipt = receipts.receipt_get_for(user=request.user, number=number)
    response = HttpResponse(receipt_pdf.receipt_pdf(receipt), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{receipt.number}.pdf"'
    return response


@require_safe
@never_cache
@csp_override(PAGE_CSP)
def receipt_verify(request, token):
    try:
        proof = receipts.receipt_proof_for(token=token, ip=client_ip(request))
    except RateLimited as error:
        context = {"message": error.message, "status": 429}
        return render(request, "payments/receipts/rate_limited.html", context, status=429)
    if proof is None:
        return render(request, "payments/receipts/not_valid.html", {"status": 404}, status=404)
    return render(request, "payments/receipts/verify.html", {"proof": proof})
