import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class IntegrationScope(models.TextChoices):
    ACCOUNTS_WRITE = "accounts:write", _("Import accounts")
    BILLS_WRITE = "bills:write", _("Import bills and outside payments")
    PAYMENTS_READ = "payments:read", _("Read payments")
    INVOICES_WRITE = "invoices:write", _("Report VAT invoices issued")
    OUTAGES_WRITE = "outages:write", _("Send planned outages for editors to review")


class IntegrationClient(models.Model):
    """Another system (the billing system, CIS) that calls the integration API.

    It authenticates with a bearer token shown once at creation; we keep its SHA-256 only. The
    token's first characters (prefix) find the row without a scan.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=100, unique=True)
    token_prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    scopes = models.JSONField(_("scopes"), default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("integration client")
        verbose_name_plural = _("integration clients")

    def __str__(self):
        return self.name

    def has_scope(self, scope: str) -> bool:
        return self.revoked_at is None and scope in self.scopes
