"""Test data, built the way the application would have built it."""

import datetime
from decimal import Decimal

import factory
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth.models import Permission
from django.utils import timezone

from portal.models import User

# Long enough for the 12-character minimum and not on Django's common-password list.
PASSWORD = "Kettle-Harbour-Lantern-42"


class UserFactory(factory.django.DjangoModelFactory):
    """A customer who signed up, accepted the privacy notice and verified their e-mail."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"customer{n}@example.cn")
    name = factory.Sequence(lambda n: f"客户{n}")
    privacy_notice_version = "2026-11"
    privacy_accepted_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or PASSWORD)
        if create:
            self.save(update_fields=["password"])

    @factory.post_generation
    def email_verified(self, create, extracted, **kwargs):
        """allauth keeps its own record of each address; login needs it verified."""
        if create:
            EmailAddress.objects.create(
                user=self,
                email=self.email,
                primary=True,
                verified=True if extracted is None else extracted,
            )


class PhoneUserFactory(UserFactory):
    """A customer who also verified a mainland mobile number (stored as E.164)."""

    phone = factory.Sequence(lambda n: f"+86139{n:08d}")
    phone_verified = True


class StaffUserFactory(UserFactory):
    """A member of staff: may open the back office once two-factor authentication is set up."""

    is_staff = True
    email = factory.Sequence(lambda n: f"staff{n}@powerhall.example.cn")

    @factory.post_generation
    def back_office_access(self, create, extracted, **kwargs):
        """Wagtail admits only holders of wagtailadmin.access_admin (is_staff is not enough)."""
        if create and extracted is not False:
            self.user_permissions.add(
                Permission.objects.get(
                    content_type__app_label="wagtailadmin", codename="access_admin"
                )
            )


def totp_enrol(user: User) -> str:
    """Give ``user`` an authenticator app and recovery codes, as enrolment would; returns the
    TOTP secret so a test can compute codes."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    assert Authenticator.objects.filter(user=user).count() == 2
    return secret


class ServiceAccountFactory(factory.django.DjangoModelFactory):
    """An electricity account as the billing system sends it."""

    class Meta:
        model = "portal.ServiceAccount"

    number = factory.Sequence(lambda n: f"{3200000000 + n}")
    holder_name = factory.Sequence(lambda n: f"户主{n}")
    address = factory.Sequence(lambda n: f"朝阳区示例路 {n} 号")
    district = "朝阳区"
    feeder = "望京 112 线"
    customer_class = "residential"
    tariff_code = "RES-TIER-M"
    status = "active"
    meter_number = factory.Sequence(lambda n: f"1100{n:08d}")
    phone = factory.Sequence(lambda n: f"+86137{n:08d}")
    email = factory.Sequence(lambda n: f"holder{n}@example.cn")


class BindingFactory(factory.django.DjangoModelFactory):
    """A personal binding (pass organisation=… and user=None for an organisation's)."""

    class Meta:
        model = "portal.Binding"

    account = factory.SubFactory(ServiceAccountFactory)
    user = factory.SubFactory(UserFactory)
    organisation = None
    label = ""
    proof = "holder_meter"


class OrganisationFactory(factory.django.DjangoModelFactory):
    """A business customer. The USCC only has to be unique here, not check-digit valid."""

    class Meta:
        model = "portal.Organisation"

    name = factory.Sequence(lambda n: f"示例企业{n}有限公司")
    uscc = factory.Sequence(lambda n: f"91110105MA{n:08d}")


class MembershipFactory(factory.django.DjangoModelFactory):
    """A plain member (pass role="admin" for an administrator, who also needs totp_enrol)."""

    class Meta:
        model = "portal.Membership"

    organisation = factory.SubFactory(OrganisationFactory)
    user = factory.SubFactory(UserFactory)
    role = "member"


class OrgBindingFactory(BindingFactory):
    """An account bound by an organisation."""

    user = None
    organisation = factory.SubFactory(OrganisationFactory)


class MemberScopeFactory(factory.django.DjangoModelFactory):
    """What a member may do with one of the organisation's accounts (view only by default)."""

    class Meta:
        model = "portal.MemberScope"

    membership = factory.SubFactory(MembershipFactory)
    binding = factory.SubFactory(
        OrgBindingFactory, organisation=factory.SelfAttribute("..membership.organisation")
    )
    can_view = True


class BillFactory(factory.django.DjangoModelFactory):
    """A bill on the ledger, as the import leaves it: created, then its issue entry posted.
    Pay it with ``pay(bill, amount, on_date)``."""

    class Meta:
        model = "payments.Bill"

    number = factory.Sequence(lambda n: f"B{2026000000 + n}")
    account = factory.SubFactory(ServiceAccountFactory)
    period_start = datetime.date(2026, 9, 1)
    period_end = datetime.date(2026, 9, 30)
    issue_date = datetime.date(2026, 10, 5)
    due_date = datetime.date(2026, 10, 20)
    kwh = Decimal("200.00")
    amount = Decimal("110.00")
    tariff_code = factory.LazyAttribute(lambda bill: bill.account.tariff_code)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from django.db import transaction

        from payments.bills import bill_issue_postings
        from payments.ledger import bills_refresh, ledger_post
        from payments.models import EntryKind

        with transaction.atomic():
            bill = super()._create(model_class, *args, **kwargs)
            if lines := bill_issue_postings(bill=bill):
                ledger_post(
                    kind=EntryKind.BILL_ISSUED,
                    effective_date=bill.issue_date,
                    lines=lines,
                    reference=bill.number,
                )
            bills_refresh(bill_ids=[bill.pk])
            bill.refresh_from_db()
        return bill


def pay(bill, amount, on_date, *, channel="counter", reference=None):
    """Record an outside payment the way the import does (ledger only, no OutsidePayment row)."""
    from django.db import transaction

    from payments.bills import bill_payment_post

    with transaction.atomic():
        return bill_payment_post(
            bill=bill,
            amount=Decimal(amount),
            on_date=on_date,
            channel=channel,
            reference=reference or f"P-{bill.number}-{on_date.isoformat()}-{amount}",
        )
