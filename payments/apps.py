from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = _("Bills and payments")

    def ready(self):
        from . import hooks  # noqa: F401  (providers for the portal's extension points)
