from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.urls import reverse_lazy
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _


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
