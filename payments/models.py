from django.db import models
from django.utils.translation import gettext_lazy as _


class Tariff(models.Model):
    """A tariff the portal knows how to explain, by the billing system's code.

    The billing system is the master of tariff codes; an account or bill that names a code not
    defined here is still imported, and flagged for staff. Prices and their versions come with
    the bills capability.
    """

    code = models.CharField(_("tariff code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")

    def __str__(self):
        return f"{self.code} {self.name}"
