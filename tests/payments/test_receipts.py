"""Receipts (电费缴费凭证) and refund notes: issued with the payment, numbered per year without
gaps, rendered once after the commit with a Chinese font, served only to who may see the
payment, and checkable by anyone through the QR code's link; a refund makes a separate note.

Payments go through the local test gateway and the webhook code; the PDF is checked with
poppler's ``pdffonts``/``pdftotext`` and its QR code read back with ``zbarimg``. Both databases;
the first-of-year numbering race runs on PostgreSQL only.
"""

import hashlib
import subprocess
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from payments import checkout
from payments.models import AttemptStatus, DocumentSequence, Receipt, ReceiptKind, RefundStatus
from payments.numerals import rmb_capitals
from payments.receipt_pdf import receipt_store_pdf
from payments.receipts import VERIFY_LIMIT_PER_IP, receipt_number_next
from payments.refunds import refund_request
from payments.tasks import receipt_render
from portal.core import clock
from portal.roles import SERVICE_STAFF, roles_ensure
from tests.factories import (
    BillFactory,
    MemberScopeFactory,
    MembershipFactory,
    OrganisationFactory,
    OrgBindingFactory,
    StaffUserFactory,
    UserFactory,
    totp_enrol,
)
from tests.payments.test_checkout import local_pay, own_bill
from tests.payments.test_pay_pages import page_text
from tests.payments.test_payment_concurrency import in_threads

pytestmark = pytest.mark.django_db
D = Decimal
CJK_FONTS = ("WenQuanYi", "WQY", "NotoSansCJK", "Noto Sans CJK", "NotoSerifCJK")


@pytest.fixture
def customer():
    return UserFactory()


@pytest.fixture
def paid(django_capture_on_commit_callbacks):
    """``paid(user, *bills, render=True)``: ``user`` paid ``bills`` in one payment through the
    local test gateway; the commit's callbacks ran (the receipt rendered) unless ``render`` is
    False (as if the background worker had not got to it yet)."""

    def make(user, *bills, render=True):
        attempt = checkout.attempt_create(user=user, bill_uuids=[bill.uuid for bill in bills])
        with django_capture_on_commit_callbacks(execute=render):
            local_pay(attempt)
        assert attempt.status == AttemptStatus.SUCCEEDED
        return attempt

    return make


def receipt_of(attempt) -> Receipt:
    return Receipt.objects.get(attempt=attempt, kind=ReceiptKind.PAYMENT)


def stored(receipt: Receipt) -> bytes:
    with receipt.pdf.open("rb") as file:
        return file.read()


def pdf_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "document.pdf"
    path.write_bytes(data)
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    )
    return out.stdout


def pdf_fonts(data: bytes, tmp_path) -> list[str]:
    """``pdffonts``' rows: one per font, with its name and whether it is embedded."""
    path = tmp_path / "fonts.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True)
    return out.stdout.splitlines()[2:]


def year_number(n: int, year: int | None = None) -> str:
    return f"{year or clock.today().year}-{n:08d}"


def verify_path(receipt: Receipt) -> str:
    return reverse("receipts:verify", kwargs={"token": receipt.token})


def pdf_url(receipt: Receipt) -> str:
    return reverse("receipts:pdf", kwargs={"number": receipt.number})


# --- Issuing and numbering ----------------------------------------------------------------------
def test_paying_through_the_local_gateway_issues_one_receipt_with_the_next_number(
    customer, paid, audit_actions
):
    first = own_bill(customer, amount=D("110.00"))
    second = own_bill(customer, amount=D("80.00"))

    attempt = paid(customer, first)

    receipt = receipt_of(attempt)
    assert receipt.number == year_number(1)
    assert receipt.refund is None
    snapshot = receipt.snapshot
    assert snapshot["amount"] == f"{attempt.amount:.2f}"
    assert snapshot["amount_capitals"] == rmb_capitals(attempt.amount)
    assert snapshot["payer"] == {"name": customer.name, "uscc": ""}
    assert snapshot["reference"] == attempt.reference
    assert snapshot["provider_reference"] == attempt.intent_id
    assert snapshot["company"] == "国网示例供电公司"
    assert snapshot["paid_at"].endswith("+08:00")
    (account,) = snapshot["accounts"]
    assert (account["number"], account["holder"]) == (
        first.account.number,
        first.account.holder_name,
    )
    (item,) = attempt.items.all()
    assert account["bills"] == [
        {
            "number": first.number,
            "period_start": "2026-09-01",
            "period_end": "2026-09-30",
            "amount": "110.00",
            "penalty": f"{item.penalty:.2f}",
            "total": f"{item.total:.2f}",
        }
    ]
    # Rendered after the commit and stored with its hash.
    assert receipt.rendered_at is not None
    assert hashlib.sha256(stored(receipt)).hexdigest() == receipt.pdf_sha256
    # The audit record of the payment names its receipt.
    assert audit_actions(action="payment.succeeded") == ["payment.succeeded"]

    other = paid(customer, second)

    assert receipt_of(other).number == year_number(2)
    assert Receipt.objects.count() == 2


def test_a_declined_payment_and_a_repeated_event_issue_no_receipt(customer, paid):
    bill = own_bill(customer)
    attempt = checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])

    local_pay(attempt, "decline")
    assert not Receipt.objects.exists()

    local_pay(attempt)
    local_pay(attempt)  # the same outcome again: the payment is already recorded

    assert Receipt.objects.get().number == year_number(1)


def test_numbers_start_again_at_one_each_year(customer, paid):
    paid(customer, own_bill(customer))
    paid(customer, own_bill(customer))
    next_year = clock.today().year + 1

    with time_machine.travel(datetime(next_year, 1, 4, 9, 30, tzinfo=clock.BUSINESS_TIME_ZONE)):
        attempt = paid(customer, own_bill(customer))

    assert receipt_of(attempt).number == year_number(1, next_year)
    assert dict(DocumentSequence.objects.values_list("series", "last")) == {
        f"receipt-{clock.today().year}": 2,
        f"receipt-{next_year}": 1,
    }


def test_just_after_midnight_in_shanghai_the_receipt_belongs_to_the_new_year(customer, paid):
    # 2026-12-31 16:30 UTC is 00:30 on 1 January 2027 in Shanghai.
    with time_machine.travel(datetime(2027, 1, 1, 0, 30, tzinfo=clock.BUSINESS_TIME_ZONE)):
        attempt = paid(customer, own_bill(customer))

    assert receipt_of(attempt).number == "2027-00000001"


def test_a_number_taken_in_a_transaction_that_rolls_back_is_given_back():
    with pytest.raises(RuntimeError), transaction.atomic():
        assert receipt_number_next(year=2030) == "2030-00000001"
        raise RuntimeError("the payment failed after its receipt was numbered")

    assert receipt_number_next(year=2030) == "2030-00000001"
    assert receipt_number_next(year=2030) == "2030-00000002"


# --- The document --------------------------------------------------------------------------------
def test_the_pdf_embeds_a_chinese_font_and_reads_back_the_amounts_and_the_accounts(
    customer, paid, tmp_path
):
    first = own_bill(customer, amount=D("110.00"))
    second = own_bill(customer, amount=D("1001.01"))
    attempt = paid(customer, first, second)
    receipt = receipt_of(attempt)
    data = stored(receipt)

    fonts = pdf_fonts(data, tmp_path)
    cjk = [row for row in fonts if any(name in row for name in CJK_FONTS)]
    assert cjk, f"no CJK font in the PDF: {fonts}"
    assert all(" yes " in row for row in cjk), "the CJK font must be embedded"
    text = pdf_text(data, tmp_path)
    assert receipt.number in text
    assert f"{attempt.amount:.2f}" in text
    assert rmb_capitals(attempt.amount) in text
    assert "1001.01" in text
    for bill in (first, second):
        assert bill.account.number in text
        assert bill.number in text
    assert "国网示例供电公司" in text
    assert attempt.reference in text
    with translation.override("zh-hans"):
        assert gettext("This receipt is not a VAT invoice.") in text


def test_an_organisations_receipt_names_the_organisation_and_its_credit_code(paid, tmp_path):
    membership = MembershipFactory()
    binding = OrgBindingFactory(organisation=membership.organisation)
    MemberScopeFactory(membership=membership, binding=binding, can_view=True, can_pay=True)

    attempt = paid(membership.user, BillFactory(account=binding.account))

    receipt = receipt_of(attempt)
    organisation = membership.organisation
    assert receipt.snapshot["payer"] == {"name": organisation.name, "uscc": organisation.uscc}
    text = pdf_text(stored(receipt), tmp_path)
    assert organisation.name in text and organisation.uscc in text


# zbarimg comes with `make` (scripts/system-deps installs zbar-tools).
def test_the_qr_code_opens_the_page_that_confirms_the_receipt(client, customer, paid, tmp_path):
    receipt = receipt_of(paid(customer, own_bill(customer)))
    (tmp_path / "receipt.pdf").write_bytes(stored(receipt))
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-singlefile", "receipt.pdf", "page"],
        cwd=tmp_path,
        check=True,
    )

    scanned = subprocess.run(
        ["zbarimg", "--quiet", "--raw", "page.png"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()

    assert scanned == receipt.snapshot["verify_url"]
    text = page_text(client.get(urlsplit(scanned).path, HTTP_ACCEPT_LANGUAGE="en"))
    assert "This receipt is genuine" in text
    assert receipt.number in text


def test_running_the_render_task_again_changes_nothing(customer, paid, settings):
    receipt = receipt_of(paid(customer, own_bill(customer)))
    before = (receipt.pdf.name, receipt.pdf_sha256, receipt.rendered_at, stored(receipt))

    receipt_render.enqueue(receipt_id=receipt.pk)
    receipt_store_pdf(receipt_id=receipt.pk)

    receipt.refresh_from_db()
    assert (receipt.pdf.name, receipt.pdf_sha256, receipt.rendered_at, stored(receipt)) == before
    files = list((settings.MEDIA_ROOT / "receipts").rglob("*.pdf"))
    assert [path.name for path in files] == [f"{receipt.number}.pdf"]


# --- Downloading --------------------------------------------------------------------------------
def test_the_payer_downloads_the_pdf_and_nobody_else_does(client, customer, paid):
    receipt = receipt_of(paid(customer, own_bill(customer)))

    assert client.get(pdf_url(receipt)).status_code == 302  # to sign in
    client.force_login(UserFactory())
    assert client.get(pdf_url(receipt)).status_code == 404
    assert client.get(pdf_url(receipt).replace("00000001", "00000002")).status_code == 404

    client.force_login(customer)
    response = client.get(pdf_url(receipt))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{receipt.number}.pdf"'
    assert hashlib.sha256(response.content).hexdigest() == receipt.pdf_sha256


def test_a_receipt_the_worker_has_not_rendered_yet_is_rendered_on_first_download(
    client, customer, paid
):
    attempt = paid(customer, own_bill(customer), render=False)
    receipt = receipt_of(attempt)
    assert not receipt.pdf and receipt.rendered_at is None
    client.force_login(customer)

    done = page_text(
        client.get(reverse("pay:done", args=[attempt.uuid]), HTTP_ACCEPT_LANGUAGE="en")
    )
    assert f"Receipt {receipt.number} (PDF) being prepared" in done

    first = client.get(pdf_url(receipt))
    second = client.get(pdf_url(receipt))

    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    receipt.refresh_from_db()
    assert hashlib.sha256(first.content).hexdigest() == receipt.pdf_sha256


def test_members_who_see_every_account_of_the_payment_and_staff_download_it(client, paid):
    organisation = OrganisationFactory()
    shop, depot = (OrgBindingFactory(organisation=organisation) for _ in range(2))
    payer = MembershipFactory(organisation=organisation)
    for binding in (shop, depot):
        MemberScopeFactory(membership=payer, binding=binding, can_view=True, can_pay=True)
    sees_both = MembershipFactory(organisation=organisation)
    sees_shop = MembershipFactory(organisation=organisation)
    for binding in (shop, depot):
        MemberScopeFactory(membership=sees_both, binding=binding)
    MemberScopeFactory(membership=sees_shop, binding=shop)
    no_scope = MembershipFactory(organisation=organisation)
    receipt = receipt_of(
        paid(payer.user, BillFactory(account=shop.account), BillFactory(account=depot.account))
    )
    clerk = StaffUserFactory()
    clerk.groups.add(roles_ensure()[SERVICE_STAFF])  # may view online payments
    staff_without_permission = StaffUserFactory()
    for person in (clerk, staff_without_permission):
        totp_enrol(person)
    clerk_without_mfa = StaffUserFactory()
    clerk_without_mfa.user_permissions.add(Permission.objects.get(codename="view_paymentattempt"))

    def status(user) -> int:
        client.force_login(user)
        return client.get(pdf_url(receipt)).status_code

    assert status(payer.user) == 200
    assert status(sees_both.user) == 200
    assert status(clerk) == 200
    assert status(sees_shop.user) == 404  # one of the payment's accounts is hidden from them
    assert status(no_scope.user) == 404
    assert status(staff_without_permission) == 404
    assert status(clerk_without_mfa) == 404


def test_the_payment_pages_link_the_receipt(client, customer, paid):
    attempt = paid(customer, own_bill(customer))
    receipt = receipt_of(attempt)
    client.force_login(customer)

    done = client.get(reverse("pay:done", args=[attempt.uuid]), HTTP_ACCEPT_LANGUAGE="en")
    history = client.get(reverse("pay:history"), HTTP_ACCEPT_LANGUAGE="en")

    for response in (done, history):
        assert f'href="{pdf_url(receipt)}"' in response.content.decode()
    assert "being prepared" not in page_text(done)


# --- Verifying ----------------------------------------------------------------------------------
def test_the_verification_page_shows_only_number_date_amount_and_masked_accounts(
    client, customer, paid
):
    bill = own_bill(customer)
    attempt = paid(customer, bill)
    receipt = receipt_of(attempt)
    number = bill.account.number

    text = page_text(client.get(verify_path(receipt), HTTP_ACCEPT_LANGUAGE="en"))

    assert "This receipt is genuine" in text
    assert receipt.number in text
    assert f"¥{attempt.amount:,.2f}" in text
    assert receipt.snapshot["paid_at"][:10] in text
    assert f"{number[:2]}****{number[-4:]}" in text
    for private in (number, customer.name, bill.number, attempt.reference, attempt.intent_id):
        assert private not in text


def test_a_tampered_or_unknown_token_is_not_a_valid_receipt(client, customer, paid):
    receipt = receipt_of(paid(customer, own_bill(customer)))
    token = receipt.token
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")

    for path in (
        reverse("receipts:verify", kwargs={"token": tampered}),
        reverse("receipts:verify", kwargs={"token": "x"}),
    ):
        response = client.get(path, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 404
        assert "This is not a valid receipt" in response.content.decode()
        assert receipt.number not in response.content.decode()


def test_too_many_lookups_from_one_address_are_refused_for_a_while(client, customer, paid):
    receipt = receipt_of(paid(customer, own_bill(customer)))
    unknown = reverse("receipts:verify", kwargs={"token": "guess"})

    for _ in range(VERIFY_LIMIT_PER_IP):
        assert client.get(unknown, REMOTE_ADDR="203.0.113.7").status_code == 404

    refused = client.get(verify_path(receipt), REMOTE_ADDR="203.0.113.7", HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 429
    assert "Too many checks" in refused.content.decode()
    assert receipt.number not in refused.content.decode()
    # Another address is not held back.
    assert client.get(verify_path(receipt), REMOTE_ADDR="203.0.113.8").status_code == 200


# --- Refunds ------------------------------------------------------------------------------------
@pytest.fixture
def clerk():
    user = StaffUserFactory()
    user.groups.add(roles_ensure()[SERVICE_STAFF])
    return user


def test_a_refund_issues_a_separate_note_and_leaves_the_receipt_as_it_was(
    client, customer, clerk, paid, django_capture_on_commit_callbacks, tmp_path
):
    bill = own_bill(customer, amount=D("110.00"))
    attempt = paid(customer, bill)
    receipt = receipt_of(attempt)
    before = (receipt.pdf.name, receipt.pdf_sha256, receipt.rendered_at, stored(receipt))

    with django_capture_on_commit_callbacks(execute=True):
        refund = refund_request(attempt=attempt, amount=D("10.50"), reason="Meter fault", by=clerk)

    assert refund.status == RefundStatus.SUCCEEDED
    receipt.refresh_from_db()
    assert (receipt.pdf.name, receipt.pdf_sha256, receipt.rendered_at, stored(receipt)) == before
    note = Receipt.objects.get(refund=refund)
    assert (note.kind, note.attempt, note.number) == (ReceiptKind.REFUND, attempt, year_number(2))
    assert note.snapshot["payment"]["receipt_number"] == receipt.number
    assert note.snapshot["amount_capitals"] == "壹拾元伍角"
    text = pdf_text(stored(note), tmp_path)
    assert note.number in text and receipt.number in text
    assert "10.50" in text and "壹拾元伍角" in text and bill.account.number in text
    # The note checks out as a refund note; the receipt's page tells of the refund.
    note_page = page_text(client.get(verify_path(note), HTTP_ACCEPT_LANGUAGE="en"))
    assert "This refund note is genuine" in note_page and "¥10.50" in note_page
    receipt_page = page_text(client.get(verify_path(receipt), HTTP_ACCEPT_LANGUAGE="en"))
    assert "This receipt is genuine" in receipt_page
    assert f"refunded later, with these refund notes: {note.number} ¥10.50" in receipt_page
    # The payer gets the note too.
    client.force_login(customer)
    assert client.get(pdf_url(note)).status_code == 200


# --- Concurrency (PostgreSQL) -------------------------------------------------------------------
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_the_first_numbers_of_a_year_taken_at_once_are_distinct_and_have_no_gaps():
    def take(_i):
        with transaction.atomic():
            return receipt_number_next(year=2031)

    numbers = in_threads(8, take)

    assert sorted(numbers) == [f"2031-{n:08d}" for n in range(1, 9)]
    assert DocumentSequence.objects.get(series="receipt-2031").last == 8
