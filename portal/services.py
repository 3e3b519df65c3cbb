"""Services that change people's identity records. Each one writes its audit row."""

import uuid

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.db import transaction

from .core import clock
from .core.audit import audit_record
from .models import User


def user_signup_complete(*, user: User, privacy_accepted: bool) -> None:
    """Record the privacy consent given on the sign-up form, and the sign-up itself."""
    with transaction.atomic():
        if privacy_accepted:
            user.privacy_notice_version = settings.PRIVACY_NOTICE_VERSION
            user.privacy_accepted_at = clock.now()
            user.save(update_fields=["privacy_notice_version", "privacy_accepted_at"])
        audit_record(
            action="user.signed_up",
            actor=user,
            obj=user,
            data={"privacy_notice_version": user.privacy_notice_version},
        )


def user_phone_set(*, user: User, phone: str, verified: bool) -> None:
    """Attach (or verify) a mobile number; allauth calls this through the adapter."""
    if user.phone == phone and user.phone_verified == verified:
        # allauth marks the number verified again after every sign-in by SMS code: that changes
        # nothing and is not worth an audit row (the sign-in has its own).
        return
    with transaction.atomic():
        changed = user.phone != phone
        user.phone = phone
        user.phone_verified = verified
        user.save(update_fields=["phone", "phone_verified"])
        audit_record(
            action="user.phone_changed" if changed else "user.phone_verified",
            actor=user,
            obj=user,
            data={"verified": verified},
        )


def user_sessions_ended(*, sessions: list[UserSession]) -> None:
    for session in sessions:
        audit_record(
            action="user.session_ended",
            actor=session.user,
            obj=session.user,
            data={"session": session.pk},
        )


def user_data_export(*, user: User) -> dict:
    """Everything we hold about a person, as they can download it (privacy law: access)."""
    from .core.audit import audit_events_by

    data = {
        "exported_at": clock.now().isoformat(),
        "profile": {
            "id": str(user.uuid),
            "email": user.email,
            "name": user.name,
            "phone": user.phone,
            "phone_verified": user.phone_verified,
            "language": user.language,
            "date_joined": user.date_joined.isoformat(),
            "last_login": user.last_login.isoformat() if user.last_login else None,
            "privacy_notice_version": user.privacy_notice_version,
            "privacy_accepted_at": (
                user.privacy_accepted_at.isoformat() if user.privacy_accepted_at else None
            ),
        },
        "email_addresses": [
            {"email": e.email, "verified": e.verified, "primary": e.primary}
            for e in EmailAddress.objects.filter(user=user).order_by("pk")
        ],
        "two_factor_methods": sorted(
            Authenticator.objects.filter(user=user).values_list("type", flat=True)
        ),
        "sessions": [
            {
                "ip": s.ip,
                "user_agent": s.user_agent,
                "created_at": s.created_at.isoformat(),
                "last_seen_at": s.last_seen_at.isoformat() if s.last_seen_at else None,
            }
            for s in UserSession.objects.filter(user=user).order_by("created_at")
        ],
        "activity": audit_events_by(user=user),
    }
    audit_record(action="privacy.data_exported", actor=user, obj=user)
    return data


def user_close(*, user: User) -> None:
    """Close an account at the owner's request.

    Personal data is removed or pseudonymised; the user row stays (as an anonymous shell) because
    bills, payments and the audit trail refer to it and must be kept by law.
    """
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        sessions = list(UserSession.objects.filter(user=user))
        for session in sessions:
            session.end()
        EmailAddress.objects.filter(user=user).delete()
        Authenticator.objects.filter(user=user).delete()
        user.email = f"closed-{uuid.uuid4().hex}@closed.invalid"
        user.name = ""
        user.phone = ""
        user.phone_verified = False
        user.language = ""
        user.is_active = False
        user.closed_at = clock.now()
        user.set_unusable_password()
        user.save()
        user.groups.clear()
        audit_record(action="privacy.account_closed", actor=user, obj=user)
