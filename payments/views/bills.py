"""What the customer sees of bills: lists, a bill's explanation, usage, the organisation's
bills and statement.

Every view reads through ``payments.selectors``, scoped to the signed-in person (personal
routes) or to their membership (``org_member_required``): another person's or organisation's
bill is "not found".
"""

import io
from dataclasses import replace
from datetime import date, timedelta

from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.http import FileResponse, QueryDict
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_safe

from portal import fragments
from portal import selectors as portal_selectors
from portal.core import clock
from portal.core.replica import reads_may_lag
from portal.csv_export import csv_download
from portal.org_access import admin_mfa_redirect, org_member_required

from .. import selectors, statements
from ..forms.bills import BillFilterForm, StatementForm
from ..models import BillStatus
from ..usage_chart import tier_gauge, usage_chart

PAGE_SIZE = 25
NO_BILLS_YET = gettext_noop(
    "No bills yet. Bills appear here once the billing system has issued them, usually early each"
    " month."
)


def _params(form: BillFilterForm) -> QueryDict:
    """The list's query string rebuilt from what validated (for page links)."""
    query = form.query()
    params = QueryDict(mutable=True)
    for key, value in [
        ("period", f"{query.year}-{query.month:02d}" if query.month else query.year or ""),
        ("status", query.status),
        ("account", query.account_number or (str(query.binding) if query.binding else "")),
    ]:
        if value:
            params[key] = value
    return params


def _bill_page(request, bills, form: BillFilterForm, *, today: date | None = None) -> dict:
    """One page of ``bills`` with what each row owes today (two queries for the whole page)."""
    page = Paginator(bills, PAGE_SIZE).get_page(request.GET.get("page"))
    today = today or clock.today()
    owed = selectors.owed_today(bills=page.object_list, as_of=today)
    for bill in page.object_list:
        bill.owed = owed.get(bill.pk)
        bill.is_overdue = bill.status in selectors.UNPAID and bill.due_date < today
    return {
        "form": form,
        "page": page,
        "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        "params": _params(form),
        "is_filtered": form.is_filtered,
        "today": today,
    }


def _page_asked(request) -> str:
    """The page number as asked, for a fragment's key (the paginator decides what it means)."""
    number = request.GET.get("page", "")
    return number if number.isdigit() and len(number) <= 9 else "?" if number else ""


def _results(request, *, bindings, bills, form, show_account, action, empty) -> str:
    """The rendered results of a person's bill list (count, table, pagination), from the
    per-person fragment cache (portal/fragments.py): the key holds the bindings with their
    accounts' ``bills_version``, the filters and the page asked for, the language and today,
    so a payment, a new bill, a binding change or a new day makes a new one."""
    today = clock.today()
    key = fragments.fragment_key(
        "bill-results",
        user_id=request.user.pk,
        parts=(
            fragments.binding_parts(bindings),
            show_account,
            _params(form).urlencode(),
            _page_asked(request),
        ),
    )

    def render_results() -> str:
        context = _bill_page(request, bills, form, today=today)
        labels = {b.account_id: b for b in bindings}
        for bill in context["page"].object_list:
            bill.binding = labels.get(bill.account_id)
        return render_to_string(
            "payments/includes/bill_results.html",
            {
                "page": context["page"],
                "page_range": context["page_range"],
                "params": context["params"],
                "show_account": show_account,
                "is_filtered": form.is_filtered,
                "action": action,
                "empty": empty,
            },
        )

    return fragments.fragment(key, render_results)


@login_required
@reads_may_lag
@require_safe
def my_bills(request):
    """Every bill of the person's own accounts."""
    bindings = list(portal_selectors.binding_list_for(user=request.user))
    accounts = [(str(b.uuid), b.label or b.account.number) for b in bindings]
    form = BillFilterForm(request.GET, accounts=accounts)
    bills = selectors.bill_list_for(user=request.user, query=form.query())
    results = _results(
        request,
        bindings=bindings,
        bills=bills,
        form=form,
        show_account=bool(bindings),
        action=reverse("me:bills"),
        empty=_(NO_BILLS_YET),
    )
    return render(
        request,
        "payments/bill_list.html",
        {
            "form": form,
            "is_filtered": form.is_filtered,
            "results": results,
            "bindings": bindings,
            "binding": None,
        },
    )


@login_required
@reads_may_lag
@require_safe
def account_bills(request, binding):
    """The bills of one of the person's own accounts."""
    binding = portal_selectors.binding_get_for(user=request.user, uuid=binding)
    form = BillFilterForm(request.GET)
    query = replace(form.query(), binding=binding.uuid)
    bills = selectors.bill_list_for(user=request.user, query=query)
    results = _results(
        request,
        bindings=[binding],
        bills=bills,
        form=form,
        show_account=False,
        action=reverse("me:account_bills", kwargs={"binding": binding.uuid}),
        empty=_(NO_BILLS_YET),
    )
    return render(
        request,
        "payments/bill_list.html",
        {"form": form, "is_filtered": form.is_filtered, "results": results, "binding": binding},
    )


@login_required
@require_safe
def bill_detail(request, bill):
    page = selectors.bill_page_for(user=request.user, uuid=bill)
    # An organisation's bill is an organisation page: its administrators need two factors first.
    if refused := admin_mfa_redirect(request, page.bill.membership):
        return refused
    return render(request, "payments/bill_detail.html", {"p": page, "bill": page.bill})


@login_required
@require_safe
def usage(request, binding):
    page = selectors.usage_page_for(user=request.user, binding_uuid=binding)
    return render(
        request,
        "payments/usage.html",
        {
            "p": page,
            "binding": page.binding,
            "account": page.binding.account,
            "chart": usage_chart(page.usage),
            "gauge": tier_gauge(page.tier) if page.tier else None,
        },
    )


# --- Organisation -------------------------------------------------------------------------------
STATEMENT_DEFAULT_MONTHS = 12


def _statement_defaults(today: date) -> tuple[date, date]:
    """The twelve billing months up to this one. Not "this year so far": in January that holds
    no bill yet, and December's is the statement a business asks for then."""
    last = today.replace(day=1)
    index = last.year * 12 + last.month - STATEMENT_DEFAULT_MONTHS
    return date(index // 12, index % 12 + 1, 1), last


STATEMENT_PDF_MONTHS = 3


def _statement_pdf_months(today: date, query: selectors.BillQuery) -> list[date]:
    """The months whose PDF statement the bill list offers: the month the list is filtered to,
    if it names one that has begun, else this month and the ones before it."""
    this_month = today.replace(day=1)
    if query.year and query.month:
        chosen = date(query.year, query.month, 1)
        if chosen <= this_month:
            return [chosen]
    months = [this_month]
    while len(months) < STATEMENT_PDF_MONTHS:
        months.append((months[-1] - timedelta(days=1)).replace(day=1))
    return months


@org_member_required
@reads_may_lag
@require_safe
def org_bills(request):
    membership = request.membership
    form = BillFilterForm(request.GET, by_number=True)
    bills = selectors.org_bill_list_for(membership=membership, query=form.query())
    context = _bill_page(request, bills, form)
    first, last = _statement_defaults(context["today"])
    context.update(
        {
            "membership": membership,
            "organisation": membership.organisation,
            "statement_form": StatementForm(None, default_from=first, default_to=last),
            "statement_pdf_months": _statement_pdf_months(context["today"], form.query()),
        }
    )
    return render(request, "payments/org_bill_list.html", context)


def _statement_rows(rows, *, statuses):
    for row in rows.iterator(chunk_size=2000):
        number, account, holder, start, end, kwh, amount, paid, penalty_paid, penalty, *rest = row
        status, due = rest
        yield (
            number,
            account,
            holder,
            f"{start.isoformat()}/{end.isoformat()}",
            kwh,
            amount,
            paid + penalty_paid,  # everything paid: towards the amount and the penalty
            penalty,
            statuses.get(status, status),
            due.isoformat(),
        )


@org_member_required
@require_safe
def org_statement(request):
    """Every bill of the organisation's accounts the member may view, for the billing months
    ``from``–``to`` (YYYY-MM; the last twelve months by default), as CSV. Streamed."""
    membership = request.membership
    first, last = _statement_defaults(clock.today())
    form = StatementForm(request.GET, default_from=first, default_to=last)
    if not form.is_valid():
        raise BadRequest("invalid statement period")
    first, last = form.cleaned_data["first"], form.cleaned_data["last"]
    rows = selectors.org_statement_rows(membership=membership, first=first, last=last)
    # Translated now, while the request's language is active: the body is written later.
    header = [
        _("Bill number"),
        _("Account number"),
        _("Holder"),
        _("Period"),
        _("Consumption (kWh)"),
        _("Amount (yuan)"),
        _("Paid (yuan)"),
        _("Penalty charged (yuan)"),
        _("Status"),
        _("Due date"),
    ]
    statuses = {value: str(label) for value, label in BillStatus.choices}
    return csv_download(
        filename=f"statement-{first:%Y%m}-{last:%Y%m}.csv",
        header=header,
        rows=_statement_rows(rows, statuses=statuses),
    )


@org_member_required
@require_safe
def org_statement_pdf(request, year, month):
    """The monthly statement of the accounts the member may view, as a PDF in Chinese (bills of
    the billing month, money received, the organisation's online payments). Rendered on
    request: it is a read of what the ledger says now, not a document of record."""
    statement = statements.org_statement_for(membership=request.membership, year=year, month=month)
    pdf = statements.statement_pdf(statement=statement)
    return FileResponse(
        io.BytesIO(pdf),
        as_attachment=True,
        filename=f"statement-{statement.month:%Y-%m}.pdf",
        content_type="application/pdf",
    )
