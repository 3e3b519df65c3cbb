"""Demo data for a newcomer's first `make run`. Idempotent: a second run changes nothing."""

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator

# allauth has no public API to enrol a factor without a request; these are its own helpers.
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal.account_import import known_tariff_codes
from portal.core.audit import audit_record
from portal.demo import demo_data, demo_reference_data
from portal.models import (
    Binding,
    MemberRole,
    MemberScope,
    Membership,
    Organisation,
    ProofMethod,
    ServiceAccount,
    User,
)
from portal.roles import EDITORS, REVIEWERS, SERVICE_STAFF, roles_ensure

DEMO_PASSWORD = "Powerhall-Demo-2026"  # noqa: S105  (published in README, demo only)  # nosec

# (e-mail, name, phone, role label, needs MFA, is_staff, group)
DEMO_USERS = [
    (
        "resident@demo.powerhall.cn",
        "张晓明",
        "+8613800138000",
        "residential customer",
        False,
        False,
        None,
    ),
    (
        "bizadmin@demo.powerhall.cn",
        "李华",
        "+8613900139000",
        "business administrator",
        True,
        False,
        None,
    ),
    ("editor@demo.powerhall.cn", "王编辑", "", "content editor", True, True, EDITORS),
    ("staff@demo.powerhall.cn", "赵营业", "", "service staff", True, True, SERVICE_STAFF),
    (
        "member@demo.powerhall.cn",
        "周会计",
        "",
        "business member",
        False,
        False,
        None,
    ),
    # Appended: the seeding below finds users by their place in this list.
    ("reviewer@demo.powerhall.cn", "陈审核", "", "content reviewer", True, True, REVIEWERS),
]

# Demo prices, shaped like real ones but not any province's official figures (docs/tariffs.md):
# (code, name, kind, region, customer class, [(effective from, version fields, bands)]). Each
# tiered region has two versions, so a bill can span a price change.
RESIDENT_ACCOUNTS = [
    (
        "3100000001",
        "张晓明",
        "朝阳区望京西园三区 312 号楼 2 单元 601",
        "朝阳区",
        "望京 112 线",
        "residential",
        "RES-TIER-M",
        "active",
        "110203040001",
        "+8613800138000",
    ),
    (
        "3100000002",
        "张国强",
        "西城区百万庄大街 22 号院 5 号楼 301",
        "西城区",
        "展览路 205 线",
        "residential",
        "RES-TIER-Y",
        "active",
        "110203040002",
        "+8613700137000",
    ),
]
# Accounts nobody has bound yet, to try binding with (holder + last 4 digits of the meter).
SPARE_ACCOUNTS = [
    (
        "3100000003",
        "刘洋",
        "海淀区学院路 30 号 7 号楼 402",
        "海淀区",
        "学院路 318 线",
        "residential",
        "RES-TIER-M",
        "active",
        "110203041234",
        "+8613600136000",
    ),
    (
        "3100000004",
        "陈美华",
        "丰台区方庄芳城园一区 9 号楼 1102",
        "丰台区",
        "方庄 221 线",
        "residential",
        "LEGACY-R1",
        "suspended",
        "110203048866",
        "",
    ),
]
BUSINESS_DISTRICTS = ["朝阳区", "海淀区", "东城区", "丰台区"]
ORGANISATION = ("华北示例科技有限公司", "91110105MA01ABCD6J")


class Command(BaseCommand):
    help = "Create the demo users (and, as later features land, their demo data)."

    def handle(self, *args, **options):
        if settings.POWERHALL_ENV == "production":
            raise CommandError(
                "seed_demo creates users with a published password: not in production."
            )
        with transaction.atomic():
            groups = roles_ensure()
            lines = [self._user(*row, groups=groups) for row in DEMO_USERS]
            for seed in demo_reference_data:
                seed(stdout=self.stdout)
            self._accounts()
        for seed in demo_data:
            seed(stdout=self.stdout)
        self._print(lines)  # last: the logins are what the person starting the demo reads

    def _user(self, email, name, phone, role, needs_mfa, is_staff, group, *, groups):
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(
                email=email,
                password=DEMO_PASSWORD,
                name=name,
                phone=phone,
                phone_verified=bool(phone),
                is_staff=is_staff,
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
            recovery = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
            codes = RecoveryCodes(recovery).get_unused_codes()[:3]
        return role, email, secret, codes

    def _accounts(self):
        """Demo electricity accounts of every class in several districts, the resident's two
        bindings, and an organisation with twelve accounts and one scoped member."""
        if ServiceAccount.objects.filter(number="3100000001").exists():
            return
        known = {code for provider in known_tariff_codes for code in provider()}
        business = [
            (
                f"52000000{i:02d}",
                ORGANISATION[0],
                f"{district}示例产业园 {i} 号楼",
                district,
                f"园区 {100 + i} 线",
                cls,
                "LV-BIZ-FLAT" if cls == "lv_business" else "HV-TOU-10KV",
                "active",
                f"52010203{i:04d}",
                "+8613900139000",
            )
            for i, (district, cls) in enumerate(
                (
                    BUSINESS_DISTRICTS[i % 4],
                    ["lv_business", "lv_business", "hv_single", "hv_dual"][i % 4],
                )
                for i in range(1, 13)
            )
        ]
        accounts = {}
        for row in RESIDENT_ACCOUNTS + SPARE_ACCOUNTS + business:
            number, holder, address, district, feeder, cls, tariff, status, meter, phone = row
            accounts[number] = ServiceAccount.objects.create(
                number=number,
                holder_name=holder,
                address=address,
                district=district,
                feeder=feeder,
                customer_class=cls,
                tariff_code=tariff,
                tariff_unknown=tariff not in known,
                status=status,
                meter_number=meter,
                phone=phone,
            )
        resident = User.objects.get(email=DEMO_USERS[0][0])
        for number, label in [("3100000001", "家"), ("3100000002", "父母家")]:
            Binding.objects.create(
                account=accounts[number],
                user=resident,
                label=label,
                proof=ProofMethod.HOLDER_AND_METER,
                bound_by=resident,
            )
        admin = User.objects.get(email=DEMO_USERS[1][0])
        member = User.objects.get(email=DEMO_USERS[4][0])
        organisation = Organisation.objects.create(
            name=ORGANISATION[0], uscc=ORGANISATION[1], created_by=admin
        )
        Membership.objects.create(organisation=organisation, user=admin, role=MemberRole.ADMIN)
        membership = Membership.objects.create(
            organisation=organisation, user=member, role=MemberRole.MEMBER
        )
        for i, row in enumerate(business):
            binding = Binding.objects.create(
                account=accounts[row[0]],
                organisation=organisation,
                label=f"门店 {i + 1}",
                proof=ProofMethod.HOLDER_AND_METER,
                bound_by=admin,
            )
            if i < 3:
                MemberScope.objects.create(
                    membership=membership, binding=binding, can_view=True, can_pay=True
                )
        audit_record(
            action="demo.accounts_created",
            data={"accounts": len(accounts), "organisation": str(organisation.uuid)},
        )

    def _print(self, lines):
        out = self.stdout
        out.write("")
        out.write(self.style.SUCCESS(f"powerhall demo logins (password for all: {DEMO_PASSWORD})"))
        for role, email, secret, codes in lines:
            out.write(f"  {role:<22} {email}")
            if secret:
                out.write(f"  {'':<22} two-factor: TOTP secret {secret} (any authenticator app),")
                out.write(f"  {'':<22} or `make totp` for the current code, or a recovery code:")
                out.write(f"  {'':<22} {'  '.join(codes)}")
        out.write("  Codes sent by e-mail are in var/mail/, by SMS in var/sms/.")
        out.write("  To try binding an account: 3100000003, holder 刘洋, meter ending 1234.")
        out.write("")
