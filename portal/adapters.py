"""allauth adapters: where the account library hands over to our services."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from allauth.usersessions.adapter import DefaultUserSessionsAdapter
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sites.shortcuts import get_current_site
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext as _

from . import services
from .phone import MobilePhoneField, normalise_phone
from .sms import sms_send
from .tasks import email_enqueue


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user.name = form.cleaned_data.get("name", "").strip()
        # allauth saves the user (when committing) and then attaches the phone number through
        # set_phone(); the user must therefore be saved by allauth, not after it returns.
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            services.user_signup_complete(
                user=user, privacy_accepted=bool(form.cleaned_data.get("privacy_accepted"))
            )
        return user

    def send_mail(self, template_prefix, email, context):
        # As allauth's own, but delivered by a task (see portal/email.py), with an HTML part
        # (templates/account/email/*_message.html), and in the language the person chose for
        # messages (docs/notifications.md) when the address is theirs.
        request = allauth_context.request
        ctx = {
            "request": request,
            "email": email,
            "current_site": get_current_site(request),
            "company": settings.COMPANY_NAME,
            "hotline": settings.SERVICE_HOTLINE,
        }
        ctx.update(context)
        language = (
            get_user_model()
            .objects.filter(email__iexact=email)
            .exclude(language="")
            .values_list("language", flat=True)
            .first()
        )
        with translation.override(language or translation.get_language()):
            email_enqueue(self.render_mail(template_prefix, email, ctx))

    def _get_login_attempts_cache_key(self, request, **credentials):
        """The account that failed sign-ins are counted against (ACCOUNT_RATE_LIMITS
        "login_failed": 5 in 5 minutes per key). allauth's key is the request's host name and the
        e-mail address: a guesser changing the Host header (any name in ALLOWED_HOSTS) gets five
        more guesses per name, and every sign-in by phone number shares one empty key, so five
        wrong passwords for one number locked every number out. Ours is the address, or the
        number however it was typed."""
        if email := credentials.get("email"):
            return f"email:{email.strip().lower()}"
        if phone := credentials.get("phone"):
            try:
                return f"phone:{normalise_phone(phone)}"
            except ValidationError:
                return f"phone:{phone}"
        return f"login:{credentials.get('username', '')}"

    # --- phone numbers (login by phone and SMS code, verification) -----------------------------
    def phone_form_field(self, **kwargs):
        return MobilePhoneField(**kwargs)

    def get_phone(self, user):
        return (user.phone, user.phone_verified) if user.phone else None

    def set_phone(self, user, phone, verified):
        if user.pk is None:
            # save_user(commit=False): the number is stored with the user when the caller
            # saves it, and recorded as part of the sign-up.
            user.phone, user.phone_verified = phone, verified
            return
        services.user_phone_set(user=user, phone=phone, verified=verified)

    def set_phone_verified(self, user, phone):
        services.user_phone_set(user=user, phone=phone, verified=True)

    def get_user_by_phone(self, phone):
        # Inactive users too: allauth also asks this to refuse a number that is taken (sign-up,
        # phone change), and the number is unique across all users. Sign-in still refuses an
        # inactive user (allauth's "account inactive" page).
        return (
            get_user_model().objects.filter(phone=phone).order_by("-phone_verified", "pk").first()
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
