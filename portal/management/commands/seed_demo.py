"""Demo data for a newcomer's first `make run`. Idempotent: a second run changes nothing."""

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator

# allauth has no public API to enrol a factor without a request; these are its own helpers.
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal.audit import audit_record
from portal.models import User
from portal.roles import EDITORS, SERVICE_STAFF, roles_ensure

DEMO_PASSWORD = "Powerhall-Demo-2026"

# (e-mail, name, phone, role label, needs MFA, is_staff, group)
DEMO_USERS = [
    ("resident@demo.powerhall.cn", "张晓明", "+8613800138000", "residential customer",
     False, False, None),
    ("bizadmin@demo.powerhall.cn", "李华", "+8613900139000", "business administrator",
     True, False, None),
    ("editor@demo.powerhall.cn", "王编辑", "", "content editor", True, True, EDITORS),
    ("staff@demo.powerhall.cn", "赵营业", "", "service staff", True, True, SERVICE_STAFF),
]


class Command(BaseCommand):
    help = "Create the demo users (and, as later features land, their demo data)."

    def handle(self, *args, **options):
        if settings.POWERHALL_ENV == "production":
            raise CommandError("seed_demo creates users with a published password: not in production.")
        with transaction.atomic():
            groups = roles_ensure()
            lines = [self._user(*row, groups=groups) for row in DEMO_USERS]
        self._print(lines)

    def _user(self, email, name, phone, role, needs_mfa, is_staff, group, *, groups):
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(
                email=email, password=DEMO_PASSWORD, name=name, phone=phone,
                phone_verified=bool(phone), is_staff=is_staff,
                privacy_notice_version=settings.PRIVACY_NOTICE_VERSION,
            )
            EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
            if group:
                user.groups.add(groups[group])
            audit_record(action="demo.user_created", obj=user, data={"role": role})
        secret, codes = "", []
        if needs_mfa:
            totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
            if totp is None:
                totp = TOTP.activate(user, generate_totp_secret()).instance
                RecoveryCodes.activate(user)
                audit_record(action="demo.mfa_enrolled", obj=user)
            secret = totp.data["secret"]
            recovery = Authenticator.objects.get(
                user=user, type=Authenticator.Type.RECOVERY_CODES
            )
            codes = RecoveryCodes(recovery).get_unused_codes()[:3]
        return role, email, secret, codes

    def _print(self, lines):
        out = self.stdout
        out.write("")
        out.write(self.style.SUCCESS("powerhall demo logins (password for all: %s)" % DEMO_PASSWORD))
        for role, email, secret, codes in lines:
            out.write(f"  {role:<22} {email}")
            if secret:
                out.write(f"  {'':<22} two-factor: TOTP secret {secret} (any authenticator app),")
                out.write(f"  {'':<22} or `make totp` for the current code, or a recovery code:")
                out.write(f"  {'':<22} {'  '.join(codes)}")
        out.write("  Codes sent by e-mail are in var/mail/, by SMS in var/sms/.")
        out.write("")
