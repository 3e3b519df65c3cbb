"""What the payments app adds to pages and services of the layer below it (portal), through the
extension points that layer declares (portal.core.registry, docs/architecture.md). Imported once,
by ``PaymentsConfig.ready``."""

from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from portal import (
    account_import,
    billing_messages,
    binding,
    demo,
    integration_api,
    notification_delivery,
    selectors,
)

from . import api, reminders
from . import selectors as bill_selectors
from .demo import seed_bills, seed_tariffs
from .models import Bill, BillingExport, BillStatus, Tariff


@selectors.account_card_providers.register
def bills_on_account_cards(*, bindings):
    """Each dashboard card's latest bill, what is owed today and the next due date."""
    return {
        account_id: {
            "latest_bill": summary.latest_bill,
            "amount_owed": summary.amount_owed,
            "next_due_date": summary.next_due_date,
            "overdue": summary.overdue,
        }
        for account_id, summary in bill_selectors.account_bills_for(bindings=bindings).items()
    }


@selectors.org_account_row_annotations.register
def owed_on_account_rows(*, today):
    return bill_selectors.org_account_owed_annotations(today=today)


@selectors.account_detail_annotations.register
def tariff_name_on_account_detail():
    names = Tariff.objects.filter(code=OuterRef("account__tariff_code")).values("name")[:1]
    return {"tariff_name": Coalesce(Subquery(names), Value(""))}


@binding.latest_bill_amount.register
def latest_bill_amount(*, account):
    """The amount of the account's latest bill that was not cancelled: the proof a customer
    holding a paper bill can read off it."""
    return (
        Bill.objects.filter(account=account)
        .exclude(status=BillStatus.CANCELLED)
        .order_by("-issue_date", "-period_end", "-pk")
        .values_list("amount", flat=True)
        .first()
    )


@account_import.known_tariff_codes.register
def tariff_codes():
    return Tariff.objects.values_list("code", flat=True)


# A payment's receipt (or a refund note) attached to the e-mail that tells of it.
notification_delivery.attachment_makers.register("receipt")(reminders.receipt_attachment)

# Bills, outside payments, the billing export and invoice answers on the integration API.
integration_api.api.add_router("", api.router)

# make run's demo: the tariffs before the demo accounts, the bills after them.
demo.demo_reference_data.register(seed_tariffs)
demo.demo_data.register(seed_bills)


@billing_messages.billing_message_writer.register
def billing_export_write(*, kind, payload, seq):
    """Another app's message to the billing system, into the one export (payments/export.py)."""
    BillingExport.objects.create(seq=seq, kind=kind, payload=payload)
