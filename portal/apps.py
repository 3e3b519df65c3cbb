from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Customers and audit")

    def ready(self):
        from . import receivers  # noqa: F401  (audit of identity events raised by allauth)
        from .core.audit_db import install_connection_hooks

        install_connection_hooks()
