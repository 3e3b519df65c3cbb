"""Who must use multi-factor authentication, and whether they have it."""

from allauth.mfa.models import Authenticator


def user_must_have_mfa(user) -> bool:
    """Staff, editors, anyone who can open the Wagtail admin, and organisation administrators."""
    from .models import MemberRole, Membership

    return bool(
        user.is_staff
        or user.is_superuser
        or user.has_perm("wagtailadmin.access_admin")
        or Membership.objects.filter(user=user, role=MemberRole.ADMIN).exists()
    )


def user_has_mfa(user) -> bool:
    return Authenticator.objects.filter(
        user=user, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
    ).exists()
