"""The customer's pay pages, /pay/… (namespace "pay"): choose bills, pay them, see the outcome.

1. ``pay_bills``: every bill the person may pay, by account, with what it costs today; the
   ticked ones become a payment attempt (``checkout.attempt_create``: the server prices them).
2. ``attempt_pay``: the attempt's bills and the payment form: Stripe's Payment Element, or a
   link to the local test gateway. Refused, before any charge, when the attempt is stale.
3. ``test_gateway``: the local test gateway's page (no Stripe keys: development and tests only).
   Its buttons produce a signed event of Stripe's shape and hand it to the same webhook code the
   Stripe endpoint runs.
4. ``attempt_done``: where Stripe sends the customer back. It asks the gateway and runs the same
   idempotent fulfilment as the webhook, so a payment shows as paid even before the webhook.

Every attempt is visible only to the person who made it (``checkout.attempt_get_for``: 404
for anyone else). The pages carry a strict Content-Security-Policy: our own scripts only, and on
the payment page Stripe's script and frames (card data stays inside Stripe's frames).
"""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.csp import CSP
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_http_methods, require_safe

from portal.core import clock
from portal.core.errors import InvalidInput, RateLimited
from portal.core.money import ZERO, yuan_to_fen
from portal.models import Binding
from portal.org_access import admin_mfa_redirect
from portal.selectors import binding_list_for, membership_list_for

from .. import checkout, gateways, invoices, webhooks
from ..forms.pay import BillChoiceForm, GatewayOutcomeForm
from ..gateways.errors import GatewayError
from ..models import AttemptStatus, Gateway, PaymentAttempt
from ..selectors import owed_today

logger = logging.getLogger(__name__)

# Our own scripts and styles only: no inline script or style, no other origin (STRICT_CSP).
PAGE_CSP = settings.STRICT_CSP
# The payment page adds what Stripe's Payment Element needs (Stripe's integration security
# guide): its script, its frames (the card fields, 3-D Secure), its API. Stripe sets inline
# styles on the elements it inserts, hence 'unsafe-inline' for styles only; scripts stay
# ours and Stripe's.
STRIPE_JS = ["https://js.stripe.com", "https://*.js.stripe.com"]
PAYMENT_CSP = PAGE_CSP | {
    "script-src": [CSP.SELF, *STRIPE_JS],
    "frame-src": [*STRIPE_JS, "https://hooks.stripe.com"],
    "connect-src": [CSP.SELF, "https://api.stripe.com"],
    "img-src": [CSP.SELF, "data:", "https://*.stripe.com"],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
}

FINAL = (
    AttemptStatus.SUCCEEDED,
    AttemptStatus.FAILED,
    AttemptStatus.CANCELLED,
    AttemptStatus.EXPIRED,
)
"""Statuses the return page stops waiting at (a failed payment may still be tried again)."""
GATEWAY_CHECK_SECONDS = 10
"""The status poll asks the gateway at most this often per attempt (the page asks every 2 s)."""
HISTORY_PAGE_SIZE = 20


# --- Shared -------------------------------------------------------------------------------------
def _org_mfa_redirect(request, organisation_ids):
    """Paying for an organisation is acting for it: an administrator without two factors is
    sent to set them up first, as on every organisation page (portal/org_access.py)."""
    organisation_ids = {pk for pk in organisation_ids if pk}
    if not organisation_ids:
        return None
    for membership in membership_list_for(user=request.user):
        if membership.organisation_id not in organisation_ids:
            continue
        if refused := admin_mfa_redirect(request, membership):
            return refused
    return None


def _is_final(attempt: PaymentAttempt) -> bool:
    # A flagged payment (amount or currency mismatch) waits for staff, not for the gateway.
    return attempt.status in FINAL or bool(attempt.needs_review)


def _done_url(attempt: PaymentAttempt) -> str:
    return reverse("pay:done", kwargs={"attempt": attempt.uuid})


# --- 1. Choosing bills --------------------------------------------------------------------------
def _account_groups(request, accounts: dict, bills: list, selected: set) -> list[dict]:
    """The payable bills by account, in the order of their oldest due date, each group named by
    the person's label for the account or, for an organisation's, the organisation and holder.
    Two queries (the bills' payments, the penalty rules) plus one for labels and one for
    organisations' names, whatever the number of bills."""
    today = clock.today()
    owed = owed_today(bills=bills, as_of=today)
    labels = {}
    if any(organisation is None for organisation in accounts.values()):
        labels = {b.account_id: b.label for b in binding_list_for(user=request.user)}
    organisations = {}
    if any(accounts.values()):
        organisations = {
            m.organisation_id: m.organisation for m in membership_list_for(user=request.user)
        }
    groups: dict[int, dict] = {}
    for bill in bills:
        group = groups.get(bill.account_id)
        if group is None:
            group = groups[bill.account_id] = {
                "account": bill.account,
                "label": labels.get(bill.account_id, ""),
                "organisation": organisations.get(accounts[bill.account_id]),
                "bills": [],
            }
        bill.owed = owed[bill.pk]
        bill.fen = yuan_to_fen(bill.owed.total)
        bill.is_overdue = bill.due_date < today
        bill.selected = bill.uuid in selected
        group["bills"].append(bill)
    return list(groups.values())


@login_required
@require_http_methods(["GET", "POST"])
@csp_override(PAGE_CSP)
def pay_bills(request):
    """Every bill the person may pay, to tick; ``?bill=<uuid>`` (repeatable) ticks some,
    ``?account=<number>`` those of one account, ``?binding=<uuid>`` (repeatable) those of
    bound accounts, ``?select=all`` every one. Posting the ticked
    bills freezes them in a payment attempt."""
    accounts = checkout.payable_accounts_for(user=request.user)
    bills = list(checkout.payable_bills_for(user=request.user, accounts=accounts))
    form = BillChoiceForm(request.POST if request.method == "POST" else request.GET)
    chosen = form.cleaned_data["bill"] if form.is_valid() else []
    if request.method == "POST":
        if not form.is_valid():
            for error in form.errors.get("bill", []):
                messages.error(request, error)
        else:
            by_uuid = {bill.uuid: bill for bill in bills}
            paid_for = {accounts[by_uuid[u].account_id] for u in chosen if u in by_uuid}
            if refused := _org_mfa_redirect(request, paid_for):
                return refused
            try:
                attempt = checkout.attempt_create(user=request.user, bill_uuids=chosen)
            except (InvalidInput, RateLimited) as error:
                messages.error(request, error.message)
            else:
                return redirect("pay:attempt", attempt=attempt.uuid)
    selected = set(chosen)
    if request.method == "GET":
        account = form.cleaned_data.get("account") if form.is_valid() else ""
        if request.GET.get("select") == "all":
            selected = {bill.uuid for bill in bills}
        elif account:
            selected |= {bill.uuid for bill in bills if bill.account.number == account}
        if form.is_valid() and form.cleaned_data["binding"]:
            ticked = set(
                Binding.objects.filter(
                    uuid__in=form.cleaned_data["binding"], account_id__in=list(accounts)
                ).values_list("account_id", flat=True)
            )
            selected |= {bill.uuid for bill in bills if bill.account_id in ticked}
    groups = _account_groups(request, accounts, bills, selected)
    total = sum((b.owed.total for g in groups for b in g["bills"] if b.selected), ZERO)
    return render(
        request,
        "payments/pay/bills.html",
        {
            "groups": groups,
            "bill_count": len(bills),
            "selected_count": sum(1 for g in groups for b in g["bills"] if b.selected),
            "selected_total": total,
            "today": clock.today(),
            "max_bills": checkout.MAX_BILLS,
        },
    )


# --- 2. Paying ----------------------------------------------------------------------------------
@login_required
@require_safe
@never_cache
@csp_override(PAYMENT_CSP)
def attempt_pay(request, attempt):
    """The attempt's bills and the payment form. The gateway payment is made here, once
    (``checkout.attempt_begin``), and only if the attempt may still be charged."""
    attempt = checkout.attempt_get_for(user=request.user, uuid=attempt)
    if refused := _org_mfa_redirect(request, [attempt.organisation_id]):
        return refused
    if attempt.status in (AttemptStatus.SUCCEEDED, AttemptStatus.PROCESSING):
        return redirect(_done_url(attempt))
    stale = checkout.attempt_stale_reason(attempt=attempt)
    provider_error = False
    if stale:
        # Refused before any charge: cancel the attempt and its gateway payment, unless the
        # money already came in (then fulfilment has just credited it).
        checkout.attempt_cancel_stale(attempt=attempt)
        attempt.refresh_from_db()
        if attempt.status == AttemptStatus.SUCCEEDED:
            return redirect(_done_url(attempt))
    else:
        try:
            attempt = checkout.attempt_begin(attempt=attempt)
        except GatewayError:
            logger.exception("creating the payment of attempt %s failed", attempt.uuid)
            provider_error = True
    items = checkout.attempt_items(attempt=attempt)
    if not stale:
        # Say which bill's penalty could not be worked out (its frozen penalty is not a 0).
        owed = owed_today(bills=[item.bill for item in items], as_of=attempt.business_date)
        for item in items:
            item.penalty_unknown = getattr(owed.get(item.bill_id), "penalty_unknown", None)
    context = {
        "attempt": attempt,
        "items": items,
        "stale": stale,
        "provider_error": provider_error,
        "can_pay": not stale and not provider_error,
        "done_url": _done_url(attempt),
    }
    if attempt.gateway == Gateway.STRIPE and context["can_pay"]:
        context["stripe"] = {
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
            "client_secret": attempt.client_secret,
            "return_url": request.build_absolute_uri(_done_url(attempt)),
            "locale": "zh" if request.LANGUAGE_CODE.startswith("zh") else "en",
        }
    return render(request, "payments/pay/attempt.html", context)


# --- 3. The local test gateway ------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
@never_cache
@csp_override(PAGE_CSP)
def test_gateway(request, attempt):
    """The local test gateway (development and tests: no money moves). Succeed, decline or
    cancel; the outcome goes through the webhook code as a signed event, as Stripe's would."""
    attempt = checkout.attempt_get_for(user=request.user, uuid=attempt)
    if attempt.gateway != Gateway.LOCAL:
        raise Http404
    if refused := _org_mfa_redirect(request, [attempt.organisation_id]):
        return refused
    if attempt.status in (AttemptStatus.SUCCEEDED, AttemptStatus.PROCESSING):
        return redirect(_done_url(attempt))
    # Checked again before every charge: a bill may have been paid at a counter since the
    # pay page opened.
    stale = checkout.attempt_stale_reason(attempt=attempt)
    if stale:
        checkout.attempt_cancel_stale(attempt=attempt)
        attempt.refresh_from_db()
        if attempt.status == AttemptStatus.SUCCEEDED:
            return redirect(_done_url(attempt))
    elif request.method == "POST":
        form = GatewayOutcomeForm(request.POST)
        if not form.is_valid():
            raise BadRequest("unknown test gateway outcome")
        attempt = checkout.attempt_begin(attempt=attempt)
        payload, signature = gateways.local_outcome(attempt, form.cleaned_data["outcome"])
        answer = webhooks.webhook_receive(payload, signature, gateway=Gateway.LOCAL)
        if answer.status != 200:
            # Stored with its traceback; the return page asks the gateway again.
            logger.warning("local gateway event for %s: %s", attempt.uuid, answer.text)
        return redirect(_done_url(attempt))
    return render(
        request,
        "payments/pay/test_gateway.html",
        {"attempt": attempt, "items": checkout.attempt_items(attempt=attempt), "stale": stale},
    )


# --- 4. The outcome -----------------------------------------------------------------------------
def _status_label(attempt: PaymentAttempt) -> str:
    if attempt.needs_review:
        return _("Being checked by our staff")
    return str(attempt.get_status_display())


@login_required
@require_safe
@never_cache
@csp_override(PAGE_CSP)
def attempt_done(request, attempt):
    """Where the customer lands after paying: the attempt's live status."""
    attempt = checkout.attempt_refresh(
        attempt=checkout.attempt_get_for(user=request.user, uuid=attempt)
    )
    return render(
        request,
        "payments/pay/done.html",
        {
            "attempt": attempt,
            "items": checkout.attempt_items(attempt=attempt),
            "final": _is_final(attempt),
            "status_label": _status_label(attempt),
            "can_retry": attempt.status in (AttemptStatus.PENDING, AttemptStatus.FAILED)
            and clock.now() < attempt.expires_at,
            "invoice": invoices.invoice_state_for(attempt=attempt),
        },
    )


@login_required
@require_safe
@never_cache
def attempt_status(request, attempt):
    """The attempt's status as JSON, for the return page's script: ``{status, label, final}``.
    It asks the gateway itself now and then, in case the webhook is slow."""
    attempt = checkout.attempt_get_for(user=request.user, uuid=attempt)
    if not _is_final(attempt) and cache.add(
        f"pay:checked:{attempt.uuid}", True, timeout=GATEWAY_CHECK_SECONDS
    ):
        attempt = checkout.attempt_refresh(attempt=attempt)
    return JsonResponse(
        {"status": attempt.status, "label": _status_label(attempt), "final": _is_final(attempt)}
    )


# --- 5. History ---------------------------------------------------------------------------------
@login_required
@require_safe
@csp_override(PAGE_CSP)
def history(request):
    """The person's own payments, newest first."""
    attempts = invoices.invoice_status_annotate(
        attempts=checkout.attempt_list_for(user=request.user)
    )
    page = Paginator(attempts, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "payments/pay/history.html",
        {
            "page": page,
            "page_range": page.paginator.get_elided_page_range(
                page.number, on_each_side=2, on_ends=1
            ),
            "params": QueryDict(),
        },
    )
