"""Print the current TOTP code of each demo user who has one (development only)."""

import time

from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Print the current two-factor code of each demo user (development mode only)."

    def handle(self, *args, **options):
        if settings.POWERHALL_ENV != "development":
            raise CommandError("demo_totp is for development mode only.")
        # allauth counts TOTP steps from the system clock: so must the codes shown here.
        counter = int(time.time()) // mfa_settings.TOTP_PERIOD  # noqa: TID251
        totps = Authenticator.objects.filter(
            type=Authenticator.Type.TOTP, user__email__endswith="@demo.powerhall.cn"
        ).select_related("user")
        for authenticator in totps.order_by("user__email"):
            code = format_hotp_value(hotp_value(authenticator.data["secret"], counter))
            self.stdout.write(f"{authenticator.user.email:<32} {code}")
