"""Asking for a VAT invoice (增值税发票) for an online payment: /pay/<uuid>/invoice/.

The page shows the payment's invoice requests and, while none is open, the request form. The
payment is resolved by ``invoices.invoice_attempt_get_for``: its payer, or an administrator of
the organisation it was made for (404 for anyone else); the rules live in payments/invoices.py.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_http_methods

from portal.core.errors import InvalidInput
from portal.org_access import admin_mfa_redirect
from portal.selectors import membership_list_for

from .. import checkout, invoices
from ..forms.invoice import InvoiceRequestForm
from .pay import PAGE_CSP


@login_required
@require_http_methods(["GET", "POST"])
@csp_override(PAGE_CSP)
def invoice_request(request, attempt):
    attempt = invoices.invoice_attempt_get_for(user=request.user, uuid=attempt)
    if attempt.organisation_id:
        # Asking for the organisation's invoice is acting for it: administrators need two
        # factors first, as on every organisation page.
        membership = (
            membership_list_for(user=request.user)
            .filter(organisation_id=attempt.organisation_id)
            .first()
        )
        if refused := admin_mfa_redirect(request, membership):
            return refused
    state = invoices.invoice_state_for(attempt=attempt)
    form = None
    if state.can_request:
        if request.method == "POST":
            form = InvoiceRequestForm(request.POST)
            if form.is_valid():
                try:
                    invoices.invoice_request_create(
                        user=request.user, attempt=attempt, **form.cleaned_data
                    )
                except invoices.InvoiceDetailsInvalid as error:
                    for field, message in error.errors.items():
                        form.add_error(field, message)
                except InvalidInput as error:
                    form.add_error(None, error.message)
                else:
                    messages.success(
                        request,
                        _(
                            "Your request is recorded and has been passed to the billing office. "
                            "The invoice will be sent to %(email)s."
                        )
                        % {"email": form.cleaned_data["email"]},
                    )
                    return redirect("pay:invoice", attempt=attempt.uuid)
        else:
            form = InvoiceRequestForm(
                initial=invoices.invoice_initial_for(user=request.user, attempt=attempt)
            )
    elif request.method == "POST":
        refusal = invoices.InvoiceAlreadyRequested if state.open else invoices.InvoiceNotPossible
        messages.error(request, refusal.default_message)
        return redirect("pay:invoice", attempt=attempt.uuid)
    return render(
        request,
        "payments/invoice/request.html",
        {
            "attempt": attempt,
            "invoice": state,
            "form": form,
            "items": checkout.attempt_items(attempt=attempt),
            "is_payer": attempt.created_by_id == request.user.pk,
        },
    )
