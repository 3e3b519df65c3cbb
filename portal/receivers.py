"""Audit rows for identity events that happen inside django-allauth and django.contrib.auth.

The library raises these signals; each receiver only records what happened (the decoupled use of
signals STYLE.md allows). Nothing here changes state.
"""

import hashlib
import hmac

from allauth.account import signals as account_signals
from allauth.mfa import signals as mfa_signals
from django.conf import settings
from django.contrib.auth import signals as auth_signals
from django.dispatch import receiver

from .core.audit import audit_record
from .preferences import elder_mode_adopt


def _identifier_digest(identifier: str) -> str:
    """A keyed digest of a login name, so failed attempts on one account can be correlated
    without the audit log holding anybody's e-mail address or phone number."""
    key = settings.AUDIT_KEY.encode()
    return hmac.new(key, identifier.strip().lower().encode(), hashlib.sha256).hexdigest()[:16]


@receiver(auth_signals.user_logged_in)
def on_logged_in(sender, request, user, **kwargs):
    audit_record(action="auth.login", actor=user, obj=user)
    elder_mode_adopt(request=request, user=user)


@receiver(auth_signals.user_logged_out)
def on_logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record(action="auth.logout", actor=user, obj=user)


@receiver(auth_signals.user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs):
    identifier = credentials.get("email") or credentials.get("username") or credentials.get("phone")
    audit_record(
        action="auth.login_failed",
        data={"identifier_digest": _identifier_digest(identifier or "")},
    )


@receiver(account_signals.login_code_rejected)
def on_login_code_rejected(sender, request, user, **kwargs):
    audit_record(action="auth.login_code_rejected", actor=user, obj=user)


@receiver(account_signals.password_changed)
def on_password_changed(sender, request, user, **kwargs):
    audit_record(action="user.password_changed", actor=user, obj=user)


@receiver(account_signals.password_set)
def on_password_set(sender, request, user, **kwargs):
    audit_record(action="user.password_set", actor=user, obj=user)


@receiver(account_signals.password_reset)
def on_password_reset(sender, request, user, **kwargs):
    audit_record(action="user.password_reset", actor=user, obj=user)


@receiver(account_signals.email_confirmed)
def on_email_confirmed(sender, request, email_address, **kwargs):
    audit_record(action="user.email_verified", actor=email_address.user, obj=email_address.user)


@receiver(account_signals.email_added)
def on_email_added(sender, request, user, email_address, **kwargs):
    audit_record(action="user.email_added", actor=user, obj=user)


@receiver(account_signals.email_removed)
def on_email_removed(sender, request, user, email_address, **kwargs):
    audit_record(action="user.email_removed", actor=user, obj=user)


@receiver(account_signals.email_changed)
def on_email_changed(sender, request, user, from_email_address, to_email_address, **kwargs):
    audit_record(action="user.email_changed", actor=user, obj=user)


def _mfa_receiver(action):
    def record(sender, request, user, authenticator, **kwargs):
        audit_record(action=action, actor=user, obj=user, data={"type": authenticator.type})

    return record


for _signal, _action in [
    (mfa_signals.authenticator_added, "mfa.added"),
    (mfa_signals.authenticator_removed, "mfa.removed"),
    (mfa_signals.authenticator_reset, "mfa.reset"),
]:
    _signal.connect(_mfa_receiver(_action), weak=False, dispatch_uid=_action)


@receiver(mfa_signals.authentication_failed)
def on_mfa_failed(sender, request, user, authenticator=None, **kwargs):
    audit_record(action="mfa.failed", actor=user, obj=user)
