from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.urls import reverse_lazy
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .models import MemberRole


def _privacy_label():
    return format_html(
        _('I have read and accept the <a href="{}" target="_blank">privacy notice</a>.'),
        reverse_lazy("privacy_notice"),
    )


class SignupForm(AllauthSignupForm):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "name", "placeholder": _("Your name")}),
    )
    privacy_accepted = forms.BooleanField(
        label=lazy(_privacy_label, str)(),
        required=True,
        error_messages={"required": _("You must accept the privacy notice to register.")},
    )

    field_order = ["name", "email", "phone", "password1", "password2", "privacy_accepted"]


class AccountCloseForm(forms.Form):
    confirm = forms.CharField(
        label=_("Type CLOSE to confirm"),
        max_length=10,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def clean_confirm(self):
        value = self.cleaned_data["confirm"].strip()
        if value.upper() not in {"CLOSE", "注销"}:
            raise forms.ValidationError(_("Type CLOSE (or 注销) to confirm."))
        return value


# --- Binding electricity accounts ----------------------------------------------------------------
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


# --- Organisations: parsing only; the rules live in portal/organisations.py --------------------
class OrganisationCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Organisation name"),
        max_length=200,
        help_text=_("As printed on the business licence."),
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    uscc = forms.CharField(
        label=_("Unified social credit code (统一社会信用代码)"),
        max_length=40,
        help_text=_("18 digits and capital letters, on the business licence."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}
        ),
    )


class InvitationForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail address"),
        help_text=_("They accept by signing in with this address, once it is verified."),
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(
        label=_("Role"),
        choices=MemberRole.choices,
        initial=MemberRole.MEMBER,
        widget=forms.RadioSelect,
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=MemberRole.choices, widget=forms.RadioSelect)
