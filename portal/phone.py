"""Phone numbers: people in mainland China type 11 digits; we store E.164 (+86…)."""

import re

from allauth.account.fields import PhoneField
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_E164 = re.compile(r"^\+[1-9]\d{5,14}$")


def normalise_phone(value: str) -> str:
    """'138 0013 8000', '+86 138-0013-8000' and '8613800138000' all become '+8613800138000'."""
    digits = re.sub(r"[\s\-()]", "", value or "")
    if _CN_MOBILE.match(digits):
        return "+86" + digits
    if digits.startswith("86") and _CN_MOBILE.match(digits[2:]):
        return "+" + digits
    if _E164.match(digits):
        if digits.startswith("+86") and not _CN_MOBILE.match(digits[3:]):
            raise ValidationError(_("Enter a valid mobile number."), code="invalid_phone")
        return digits
    raise ValidationError(
        _("Enter a mobile number: 11 digits, or with a country code such as +86."),
        code="invalid_phone",
    )


def mask_phone(phone: str) -> str:
    """'+8613800138000' → '138****8000'."""
    local = phone[3:] if phone.startswith("+86") else phone
    if len(local) < 7:
        return "****"
    return f"{local[:3]}****{local[-4:]}"


class MobilePhoneField(PhoneField):
    def __init__(self, *args, **kwargs):
        kwargs["validators"] = []
        super().__init__(*args, **kwargs)
        self.widget.attrs["placeholder"] = _("Mobile number, e.g. 13800138000")

    def to_python(self, value):
        value = super().to_python(value)
        return normalise_phone(value) if value else value
