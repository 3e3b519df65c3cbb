"""The pay pages' forms: which bills to pay, and the local test gateway's buttons.

The forms check only the shape of what was sent. Whether a bill may be paid, and what it costs,
is decided by ``payments.checkout`` (the server prices, never the browser).
"""

import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..gateways import LOCAL_OUTCOMES


class UUIDListField(forms.Field):
    """Repeated ``name=<uuid>`` values (ticked checkboxes, or ``?bill=…&bill=…``) as UUIDs,
    in the order sent, each once."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "invalid": _("A chosen bill cannot be paid here. Please choose again."),
    }

    def to_python(self, value) -> list[uuid.UUID]:
        if not value:
            return []
        if not isinstance(value, list | tuple):
            value = [value]
        try:
            parsed = [uuid.UUID(str(item)) for item in value]
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        return list(dict.fromkeys(parsed))


class BillChoiceForm(forms.Form):
    bill = UUIDListField(required=False)
    account = forms.CharField(required=False, max_length=32)
    """On the page's address only: tick every bill of this account (the dashboard's "Pay")."""
    binding = UUIDListField(required=False)
    """On the page's address only: tick every bill of these bound accounts (the organisation's
    accounts table, "Pay selected")."""


class GatewayOutcomeForm(forms.Form):
    outcome = forms.ChoiceField(choices=[(name, name) for name in LOCAL_OUTCOMES])
