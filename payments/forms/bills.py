"""The query strings of the bill lists and of the organisation's statement.

Like the accounts table (portal/forms/org_accounts.py), a list drops a filter that does not
validate rather than refusing the page: a stale bookmark still shows the bills. The statement,
a download, refuses a bad period with 400.
"""

import re
import uuid
from datetime import date

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..models import BillStatus
from ..selectors import OVERDUE, BillQuery

PERIOD = re.compile(r"^(?P<year>\d{4})(?:-(?P<month>\d{2}))?$")
MONTH = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{2})$")
# A statement covers at most this many billing months: a long range is several downloads.
STATEMENT_MAX_MONTHS = 36


def _month(text: str) -> date | None:
    match = MONTH.match(text)
    if not match:
        return None
    year, month = int(match["year"]), int(match["month"])
    if not (1 <= month <= 12 and 2000 <= year <= 2100):
        return None
    return date(year, month, 1)


class BillFilterForm(forms.Form):
    period = forms.CharField(
        label=_("Billing month or year"),
        required=False,
        max_length=7,
        widget=forms.TextInput(attrs={"placeholder": "2026-09", "inputmode": "numeric"}),
        help_text=_("A year (2026) or a month (2026-09)."),
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[
            ("", _("All bills")),
            (OVERDUE, _("Overdue")),
            *[(value, label) for value, label in BillStatus.choices],
        ],
    )

    def __init__(
        self, *args, accounts: list[tuple[str, str]] | None = None, by_number=False, **kwargs
    ):
        """``accounts``: (binding UUID, label) of the person's accounts, offered as a menu;
        ``by_number``: an account number field instead (an organisation may have thousands of
        accounts). Neither: a list of one account, without an account filter."""
        super().__init__(*args, **kwargs)
        if accounts is not None:
            self.fields["account"] = forms.ChoiceField(
                label=_("Account"), required=False, choices=[("", _("All accounts")), *accounts]
            )
        elif by_number:
            self.fields["account"] = forms.RegexField(
                label=_("Account number"),
                required=False,
                regex=r"^\d{1,20}$",
                max_length=20,
                help_text=_("All or the first digits."),
                error_messages={"invalid": _("Enter digits only.")},
                widget=forms.TextInput(attrs={"inputmode": "numeric"}),
            )
        self.by_number = by_number

    def clean_period(self):
        text = self.cleaned_data["period"].strip()
        if not text:
            return None
        match = PERIOD.match(text)
        month = int(match["month"]) if match and match["month"] else None
        if not match or (month is not None and not 1 <= month <= 12):
            raise ValidationError(_("Enter a year (2026) or a month (2026-09)."))
        return (int(match["year"]), month)

    def query(self) -> BillQuery:
        """The validated filters; a field that did not validate means "no filter"."""
        if not hasattr(self, "cleaned_data"):
            self.is_valid()
        data = self.cleaned_data
        year, month = data.get("period") or (None, None)
        account = data.get("account") or ""
        return BillQuery(
            year=year,
            month=month,
            status=data.get("status", ""),
            binding=uuid.UUID(account) if account and not self.by_number else None,
            account_number=account if self.by_number else "",
        )

    @property
    def is_filtered(self) -> bool:
        query = self.query()
        return bool(query.year or query.status or query.binding or query.account_number)


class StatementForm(forms.Form):
    """``?from=YYYY-MM&to=YYYY-MM``: the billing months the statement covers."""

    def __init__(self, data, *, default_from: date, default_to: date):
        super().__init__(data)
        self.fields["from"] = forms.CharField(
            label=_("From (billing month)"), required=False, initial=f"{default_from:%Y-%m}"
        )
        self.fields["to"] = forms.CharField(
            label=_("To (billing month)"), required=False, initial=f"{default_to:%Y-%m}"
        )
        self.defaults = default_from, default_to

    def clean(self):
        data = super().clean()
        default_from, default_to = self.defaults
        first = _month(data.get("from") or f"{default_from:%Y-%m}")
        last = _month(data.get("to") or f"{default_to:%Y-%m}")
        if first is None or last is None:
            raise ValidationError(_("Enter the months as YYYY-MM, for example 2026-09."))
        if last < first:
            raise ValidationError(_("The first month must not be after the last."))
        months = (last.year - first.year) * 12 + last.month - first.month + 1
        if months > STATEMENT_MAX_MONTHS:
            raise ValidationError(
                _("A statement covers at most %(count)d months."),
                params={"count": STATEMENT_MAX_MONTHS},
            )
        data["first"], data["last"] = first, last
        return data
