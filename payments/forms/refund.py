"""The staff refund form (Wagtail admin). It only parses: what may be refunded is decided by
``payments.refunds.refund_request``, whose refusals the view shows on the form."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from ..models import Refund
from ..models.fields import MONEY


class RefundForm(forms.Form):
    amount = forms.DecimalField(
        label=_("Amount to refund (yuan)"),
        min_value=Decimal("0.01"),
        **MONEY,
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=Refund._meta.get_field("reason").max_length,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Kept with the refund and in the audit log, and sent to the billing system."),
    )
