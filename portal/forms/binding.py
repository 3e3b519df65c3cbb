"""Binding an electricity account with proof, and naming it."""

from django import forms
from django.utils.translation import gettext_lazy as _

account_number_field = forms.RegexField(
    label=_("Account number (户号)"),
    regex=r"^\s*\d{6,20}\s*$",
    error_messages={"invalid": _("An account number has 6 to 20 digits.")},
    widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
)


class BindLabelMixin(forms.Form):
    label = forms.CharField(
        label=_("Label"),
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. Home, Parents' home, Shop 3")}),
    )


class BindByHolderForm(BindLabelMixin):
    number = account_number_field
    holder_name = forms.CharField(label=_("Account holder's name"), max_length=200)
    meter_last4 = forms.RegexField(
        label=_("Last 4 digits of the meter number"),
        regex=r"^\d{4}$",
        error_messages={"invalid": _("Enter the last 4 digits printed on your meter.")},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "maxlength": 4}),
    )

    field_order = ["number", "holder_name", "meter_last4", "label"]

    def clean_number(self):
        return self.cleaned_data["number"].strip()


class BindByBillForm(BindLabelMixin):
    number = account_number_field
    holder_name = forms.CharField(label=_("Account holder's name"), max_length=200)
    bill_amount = forms.DecimalField(
        label=_("Amount of the latest bill (yuan)"),
        max_digits=14,
        decimal_places=2,
        min_value=0,
        error_messages={
            "max_decimal_places": _("Enter the amount in yuan with at most 2 decimals.")
        },
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "128.45"}),
    )

    field_order = ["number", "holder_name", "bill_amount", "label"]

    def clean_number(self):
        return self.cleaned_data["number"].strip()


class BindCodeRequestForm(forms.Form):
    number = account_number_field
    channel = forms.ChoiceField(
        label=_("Send the code to"),
        choices=[
            ("phone_code", _("the mobile phone on file")),
            ("email_code", _("the e-mail address on file")),
        ],
        widget=forms.RadioSelect,
        initial="phone_code",
    )

    def clean_number(self):
        return self.cleaned_data["number"].strip()


class BindCodeConfirmForm(BindLabelMixin):
    code = forms.RegexField(
        label=_("Code"),
        regex=r"^\s*\d{6}\s*$",
        error_messages={"invalid": _("The code has 6 digits.")},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )

    field_order = ["code", "label"]


class RelabelForm(BindLabelMixin):
    pass
