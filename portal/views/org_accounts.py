"""The organisation's accounts: the table (search, filters, sort, pages, selection), its CSV
export and one account's page.

Every view runs under ``org_member_required`` (request.membership, 404 for non-members) and
reads only through the selectors scoped to that membership, so a binding of another
organisation, or one the member may not view, is "not found".
"""

from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.http import QueryDict
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_safe

from .. import selectors
from ..core import clock
from ..core.replica import reads_may_lag
from ..csv_export import csv_download
from ..forms.org_accounts import AccountSelectionForm, AccountTableForm
from ..models import AccountStatus, CustomerClass
from ..org_access import org_member_required
from ..phone import mask_phone

PAGE_SIZE = 50

# The table's columns after the tick box, in display order: (sort key or None, heading).
COLUMNS = [
    ("number", gettext_lazy("Account number")),
    ("holder", gettext_lazy("Holder")),
    (None, gettext_lazy("Address")),
    ("district", gettext_lazy("District")),
    ("class", gettext_lazy("Customer class")),
    ("status", gettext_lazy("Status")),
    (None, gettext_lazy("Unpaid amount")),
]


def _table_form(request) -> AccountTableForm:
    form = AccountTableForm(request.GET)
    form.is_valid()
    return form


def _canonical_params(form: AccountTableForm) -> QueryDict:
    """The table's query string rebuilt from what validated: links carry no junk and no
    rejected value."""
    query = form.query()
    params = QueryDict(mutable=True)
    for key, value in [
        ("q", query.search),
        ("district", query.district),
        ("customer_class", query.customer_class),
        ("status", query.status),
        ("overdue", "on" if query.overdue else ""),
        ("sort", query.sort if query.sort != "number" else ""),
        ("dir", "desc" if query.descending else ""),
    ]:
        if value:
            params[key] = value
    return params


def _columns(query) -> list[dict]:
    columns = []
    for key, label in COLUMNS:
        current = key is not None and query.sort == key
        columns.append(
            {
                "key": key,
                "label": label,
                "aria_sort": ("descending" if query.descending else "ascending") if current else "",
                # A click on the sorted column flips it; on another column sorts it ascending.
                "next_dir": "desc" if current and not query.descending else None,
            }
        )
    return columns


class _CountedRows:
    """The table's rows as Paginator sees them: the total the summary already counted (no
    second COUNT), and each page fetched by selectors.org_account_slice."""

    def __init__(self, rows, total: int):
        self.rows, self.total = rows, total

    def count(self) -> int:
        return self.total

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, index: slice):
        return selectors.org_account_slice(rows=self.rows, start=index.start, stop=index.stop)


@org_member_required
@reads_may_lag
@require_safe
def account_table(request):
    membership = request.membership
    form = _table_form(request)
    query = form.query()
    summary = selectors.org_account_summary(membership=membership, query=query)
    form.set_districts(summary.districts)
    rows = _CountedRows(
        selectors.org_account_table(membership=membership, query=query), summary.total
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    # get_FOO_display() hashes every choice's lazy label on each call; fifty rows, once each.
    classes, statuses = _choice_labels()
    for row in page.object_list:
        row.class_label = classes.get(row.account.customer_class, row.account.customer_class)
        row.status_label = statuses.get(row.account.status, row.account.status)
    params = _canonical_params(form)
    return render(
        request,
        "org/accounts.html",
        {
            "membership": membership,
            "organisation": membership.organisation,
            "form": form,
            "query": query,
            "params": params,
            "columns": _columns(query),
            "page": page,
            "page_range": page.paginator.get_elided_page_range(
                page.number, on_each_side=2, on_ends=1
            ),
            "select_all": request.GET.get("select") == "page",
            "is_filtered": form.is_filtered,
        },
    )


def _choice_labels() -> tuple[dict, dict]:
    """The customer class and status labels in the request's language."""
    return (
        {value: str(label) for value, label in CustomerClass.choices},
        {value: str(label) for value, label in AccountStatus.choices},
    )


# The export's columns, in order; the header below names them in the same order.
EXPORT_FIELDS = (
    "account__number",
    "label",
    "account__holder_name",
    "account__address",
    "account__district",
    "account__customer_class",
    "account__status",
    "account__tariff_code",
    "amount_owed",
    "is_overdue",
)


def _csv_rows(rows, *, classes, statuses, overdue_words):
    # Tuples, not model instances: a hundred thousand rows stream several times faster.
    for row in rows.values_list(*EXPORT_FIELDS).iterator(chunk_size=2000):
        number, label, holder, address, district, customer_class, status, *rest = row
        tariff, owed, overdue = rest
        yield (
            number,
            label,
            holder,
            address,
            district,
            classes.get(customer_class, customer_class),
            statuses.get(status, status),
            tariff,
            f"{owed:.2f}",  # SQLite sums lose the trailing zeros
            overdue_words[bool(overdue)],
        )


@org_member_required
@require_safe
def account_export(request):
    """Every row matching the table's current search and filters, or only the rows ticked
    (``binding``), as CSV. Streamed: an organisation may have a hundred thousand accounts."""
    membership = request.membership
    selection = AccountSelectionForm(request.GET)
    if not selection.is_valid():
        raise BadRequest("invalid selection")
    form = _table_form(request)
    rows = selectors.org_account_table(
        membership=membership, query=form.query(bindings=selection.cleaned_data["binding"])
    )
    # Translated now, while the request's language is active: the body is written later.
    header = [
        _("Account number"),
        _("Label"),
        _("Holder"),
        _("Address"),
        _("District"),
        _("Customer class"),
        _("Status"),
        _("Tariff code"),
        _("Unpaid amount (yuan, without penalty)"),
        _("Overdue"),
    ]
    classes, statuses = _choice_labels()
    overdue_words = {True: _("yes"), False: _("no")}
    return csv_download(
        filename=f"accounts-{clock.today():%Y%m%d}.csv",
        header=header,
        rows=_csv_rows(rows, classes=classes, statuses=statuses, overdue_words=overdue_words),
    )


@org_member_required
@require_safe
def account_detail(request, binding):
    membership = request.membership
    binding = selectors.org_account_detail_for(membership=membership, uuid=binding)
    account = binding.account
    return render(
        request,
        "org/account_detail.html",
        {
            "membership": membership,
            "organisation": membership.organisation,
            "binding": binding,
            "account": account,
            "masked_phone": mask_phone(account.phone) if account.phone else "",
        },
    )
