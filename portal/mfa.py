"""Who must use multi-factor authentication, and whether they have it."""

from allauth.mfa.models import Authenticator


def user_must_have_mfa(user) -> bool:
    """Staff, editors and anyone who can open the Wagtail admin."""
    return bool(
        user.is_staff or user.is_superuser or user.has_perm("wagtailadmin.access_admin")
    )


def user_has_mfa(user) -> bool:
    return Authenticator.objects.filter(
        user=user, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
    ).exists()
