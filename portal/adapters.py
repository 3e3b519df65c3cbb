"""allauth adapters: where the account library hands over to our services."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.usersessions.adapter import DefaultUserSessionsAdapter
from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from . import services
from .phone import MobilePhoneField
from .sms import sms_send


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=False)
        user.name = form.cleaned_data.get("name", "").strip()
        if commit:
            user.save()
            services.user_signup_complete(
                user=user, privacy_accepted=bool(form.cleaned_data.get("privacy_accepted"))
            )
        return user

    # --- phone numbers (login by phone and SMS code, verification) -----------------------------
    def phone_form_field(self, **kwargs):
        return MobilePhoneField(**kwargs)

    def get_phone(self, user):
        return (user.phone, user.phone_verified) if user.phone else None

    def set_phone(self, user, phone, verified):
        services.user_phone_set(user=user, phone=phone, verified=verified)

    def set_phone_verified(self, user, phone):
        services.user_phone_set(user=user, phone=phone, verified=True)

    def get_user_by_phone(self, phone):
        return (
            get_user_model()
            .objects.filter(phone=phone, is_active=True)
            .order_by("-phone_verified", "pk")
            .first()
        )

    def send_verification_code_sms(self, user, phone, code, **kwargs):
        body = _("[powerhall] Your verification code is %(code)s. It expires in 15 minutes.") % {
            "code": code
        }
        sms_send(phone=phone, body=body, purpose="verification_code")

    def send_unknown_account_sms(self, phone, **kwargs):
        # Enumeration protection: the person asking learns the same either way; the owner of
        # the number learns that nobody is registered with it.
        body = _("[powerhall] No account uses this number. Sign up at the online business hall.")
        sms_send(phone=phone, body=body, purpose="notification")


class UserSessionsAdapter(DefaultUserSessionsAdapter):
    def end_sessions(self, sessions):
        sessions = list(sessions)
        super().end_sessions(sessions)
        services.user_sessions_ended(sessions=sessions)
