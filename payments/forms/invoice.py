"""The VAT invoice request form. It only parses: the details are checked (the unified social
credit code's check character, the bank account's digits …) by ``payments.invoices``, whose
refusals the view shows next to each field."""

from django import forms
from django.utils.translation import gettext_lazy as _

from ..models import InvoiceRequest


def _limit(name: str) -> int:
    return InvoiceRequest._meta.get_field(name).max_length


class InvoiceRequestForm(forms.Form):
    title = forms.CharField(
        label=_("Invoice title (company name)"),
        max_length=_limit("title"),
        help_text=_("The company's full name, exactly as registered with the tax office."),
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    tax_number = forms.CharField(
        label=_("Taxpayer number (unified social credit code)"),
        # Longer than the 18 characters of a code: people type it with spaces or hyphens.
        max_length=40,
        help_text=_("18 digits and capital letters, on the business licence."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}
        ),
    )
    address = forms.CharField(
        label=_("Registered address"),
        max_length=_limit("address"),
        widget=forms.TextInput(attrs={"autocomplete": "street-address"}),
    )
    phone = forms.CharField(
        label=_("Registered telephone"),
        max_length=_limit("phone"),
        help_text=_("With the area code, for example 010-88886666."),
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    bank_name = forms.CharField(
        label=_("Bank"),
        max_length=_limit("bank_name"),
        help_text=_("The bank and branch where the company has its account."),
    )
    bank_account = forms.CharField(
        label=_("Bank account number"),
        max_length=_limit("bank_account"),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    email = forms.EmailField(
        label=_("E-mail for the invoice"),
        max_length=_limit("email"),
        help_text=_("The billing office sends the electronic invoice to this address."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
