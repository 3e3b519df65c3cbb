"""Signing up and closing one's account."""

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
