import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..core import clock


class Organisation(models.Model):
    """A business customer (企业/非居民客户), identified by its unified social credit code.

    Accounts it binds belong to it, not to the person who bound them.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200)
    uscc = models.CharField(_("unified social credit code"), max_length=18, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self):
        return self.name


class MemberRole(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    """Everything, including members and what they may do."""
    MEMBER = "member", _("Member")
    """Only what their scopes on each account allow."""


class Scope(models.TextChoices):
    """What a member may do with one account of the organisation."""

    VIEW = "view", _("View")
    PAY = "pay", _("Pay")
    APPLY = "apply", _("Apply")
    MANAGE = "manage", _("Manage")


class Membership(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=10, choices=MemberRole.choices)
    created_at = models.DateTimeField(_("joined"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "user"], name="membership_unique"),
            models.CheckConstraint(
                condition=Q(role__in=MemberRole.values), name="membership_role_valid"
            ),
        ]

    def __str__(self):
        return f"{self.user_id}@{self.organisation_id}"

    @property
    def is_admin(self) -> bool:
        return self.role == MemberRole.ADMIN


class MemberScope(models.Model):
    """A member's rights on one account the organisation has bound. Administrators need none:
    they may do everything."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="scopes")
    binding = models.ForeignKey(
        "portal.Binding", on_delete=models.CASCADE, related_name="member_scopes"
    )
    can_view = models.BooleanField(_("view"), default=True)
    can_pay = models.BooleanField(_("pay"), default=False)
    can_apply = models.BooleanField(_("apply"), default=False)
    can_manage = models.BooleanField(_("manage"), default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["membership", "binding"], name="memberscope_unique"),
            # Every other right implies seeing the account.
            models.CheckConstraint(
                condition=Q(can_view=True) | Q(can_pay=False, can_apply=False, can_manage=False),
                name="memberscope_rights_need_view",
            ),
        ]

    def __str__(self):
        return f"{self.membership_id}:{self.binding_id}"

    def scopes(self) -> set[str]:
        return {
            scope
            for scope, granted in [
                (Scope.VIEW, self.can_view),
                (Scope.PAY, self.can_pay),
                (Scope.APPLY, self.can_apply),
                (Scope.MANAGE, self.can_manage),
            ]
            if granted
        }


class Invitation(models.Model):
    """An invitation by e-mail to join an organisation. Only the token's hash is stored."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(_("e-mail"))
    role = models.CharField(
        _("role"), max_length=10, choices=MemberRole.choices, default=MemberRole.MEMBER
    )
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("sent"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self):
        return f"{self.email} → {self.organisation_id}"

    @property
    def is_open(self) -> bool:
        return (
            self.accepted_at is None and self.revoked_at is None and self.expires_at > clock.now()
        )
