"""The organisation accounts table's query string: search, filters, sort and selection.

Invalid values are dropped, not refused: a stale bookmark or a hand-edited link still shows the
table, with the offending filter reset (and its error beside it).
"""

import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..models import AccountStatus, CustomerClass
from ..selectors import ORG_ACCOUNT_SORTS, OrgAccountQuery

# One page of the table is 50 rows, so a selection is at most a page; a little slack for
# hand-made links, and a bound that keeps the SQL IN list small.
MAX_SELECTED = 200


def _with_all(label, choices):
    return [("", label), *choices]


class AccountTableForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        help_text=_("Account number (from the start), holder's name or address."),
    )
    # Not a ChoiceField: the choices (the districts of the member's accounts) come from the same
    # query that counts the rows, which needs the validated filters first. A district that no
    # account has simply matches nothing.
    district = forms.CharField(
        label=_("District"), required=False, max_length=100, widget=forms.Select
    )
    customer_class = forms.ChoiceField(
        label=_("Customer class"),
        required=False,
        choices=_with_all(_("All classes"), CustomerClass.choices),
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=_with_all(_("All statuses"), AccountStatus.choices),
    )
    overdue = forms.BooleanField(
        label=_("Overdue only"),
        required=False,
        help_text=_("Accounts with a bill unpaid after its due date."),
    )
    sort = forms.ChoiceField(
        required=False, choices=[(key, key) for key in ORG_ACCOUNT_SORTS], widget=forms.HiddenInput
    )
    dir = forms.ChoiceField(
        required=False, choices=[("asc", "asc"), ("desc", "desc")], widget=forms.HiddenInput
    )

    def set_districts(self, districts: list[str]):
        """Offer these districts in the district filter (and keep the one asked for, if any)."""
        chosen = self.cleaned_data.get("district", "") if hasattr(self, "cleaned_data") else ""
        if chosen and chosen not in districts:
            districts = [*districts, chosen]
        self.fields["district"].widget.choices = _with_all(
            _("All districts"), [(d, d) for d in districts]
        )

    def query(self, *, bindings: tuple = ()) -> OrgAccountQuery:
        """The validated query; fields that did not validate fall back to "no filter"."""
        if not hasattr(self, "cleaned_data"):
            self.is_valid()
        data = self.cleaned_data
        return OrgAccountQuery(
            search=data.get("q", ""),
            district=data.get("district", ""),
            customer_class=data.get("customer_class", ""),
            status=data.get("status", ""),
            overdue=bool(data.get("overdue")),
            sort=data.get("sort") or "number",
            descending=data.get("dir") == "desc",
            bindings=bindings,
        )

    @property
    def is_filtered(self) -> bool:
        query = self.query()
        return bool(
            query.search or query.district or query.customer_class or query.status or query.overdue
        )


class UUIDListField(forms.Field):
    """A repeated query parameter of UUIDs (``?binding=…&binding=…``), as a sorted tuple."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "invalid": _("The selection is not valid."),
        "too_many": _("Select at most %(count)d accounts."),
    }

    def to_python(self, value):
        if not value:
            return ()
        if len(value) > MAX_SELECTED:
            raise ValidationError(
                self.error_messages["too_many"], code="too_many", params={"count": MAX_SELECTED}
            )
        try:
            return tuple(sorted({uuid.UUID(str(v)) for v in value}, key=str))
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class AccountSelectionForm(forms.Form):
    """The rows ticked on a page of the table. The selector scopes them to the member: a UUID
    of another organisation's binding selects nothing."""

    binding = UUIDListField(required=False)
