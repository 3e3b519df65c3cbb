"""Binding an electricity account: proof required, nothing reveals whether a number exists,
attempts limited per user, per number and per address, every attempt audited."""

import datetime
import re
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from payments.models import Bill, BillStatus
from portal.models import AuditEvent, Binding
from tests.factories import BillFactory, BindingFactory, ServiceAccountFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(client):
    user = UserFactory()
    client.force_login(user)
    return user


@pytest.fixture
def account():
    return ServiceAccountFactory(
        number="3100000042",
        holder_name="刘 洋",
        meter_number="110203041234",
        phone="+8613600136000",
        email="liu@example.cn",
    )


def bind_by_holder(client, number, holder, last4, label=""):
    return client.post(
        reverse("me:bind"),
        {
            "method": "holder",
            "holder-number": number,
            "holder-holder_name": holder,
            "holder-meter_last4": last4,
            "holder-label": label,
        },
        follow=True,
    )


def page_text(response) -> str:
    return response.content.decode()


def comparable(response) -> str:
    """The page without what differs on every request (CSRF token, the challenge's own id)."""
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page_text(response))
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", text)


def test_binding_with_holder_name_and_meter_digits_shows_the_account(client, customer, account):
    response = bind_by_holder(client, "3100000042", "刘洋", "1234", label="父母家")

    binding = Binding.objects.get(user=customer, account=account)
    assert binding.label == "父母家"
    assert response.redirect_chain[-1][0] == reverse("me:account", args=[binding.uuid])
    dashboard = client.get(reverse("me:dashboard"))
    assert "3100000042" in page_text(dashboard)
    assert "父母家" in page_text(dashboard)


def test_holder_name_is_compared_without_spaces_or_width_differences(client, customer, account):
    bind_by_holder(client, "3100000042", " 刘　洋 ", "1234")

    assert Binding.objects.filter(user=customer, account=account).exists()


def test_unknown_number_and_wrong_proof_get_the_same_answer(client, customer, account):
    unknown = bind_by_holder(client, "3999999999", "刘洋", "1234")
    wrong_meter = bind_by_holder(client, "3100000042", "刘洋", "9999")
    wrong_name = bind_by_holder(client, "3100000042", "王五", "1234")

    def message(response):
        return re.search(r'class="[^"]*alert--error[^"]*".*?</div>', page_text(response), re.S)

    assert message(unknown) and message(wrong_meter) and message(wrong_name)
    assert (
        message(unknown).group(0) == message(wrong_meter).group(0) == message(wrong_name).group(0)
    )
    assert not Binding.objects.exists()


def bind_by_bill(client, number, holder, amount):
    return client.post(
        reverse("me:bind"),
        {
            "method": "bill",
            "bill-number": number,
            "bill-holder_name": holder,
            "bill-bill_amount": amount,
        },
        follow=True,
    )


def test_binding_with_the_latest_bill_amount(client, customer, account):
    def bill(amount, month):
        issued = datetime.date(2026, month, 5)
        return BillFactory(
            account=account,
            amount=Decimal(amount),
            issue_date=issued,
            due_date=issued + datetime.timedelta(days=15),
        )

    bill("96.10", 9)
    bill("128.45", 10)
    # A cancelled bill is not "the latest bill" the customer holds.
    Bill.objects.filter(pk=bill("300.00", 11).pk).update(status=BillStatus.CANCELLED)

    older = bind_by_bill(client, "3100000042", "刘洋", "96.10")
    assert "alert--error" in page_text(older)
    three_decimals = bind_by_bill(client, "3100000042", "刘洋", "128.455")
    assert 'id="id_bill-bill_amount_error"' in page_text(three_decimals)
    assert not Binding.objects.exists()

    bind_by_bill(client, "3100000042", "刘洋", "128.45")
    binding = Binding.objects.get(user=customer, account=account)
    assert binding.proof == "bill_amount"


def test_an_account_without_bills_cannot_be_bound_by_bill_amount(client, customer, account):
    response = bind_by_bill(client, "3100000042", "刘洋", "0")

    assert "alert--error" in page_text(response)
    assert not Binding.objects.exists()


def test_every_attempt_is_audited(client, customer, account):
    bind_by_holder(client, "3100000042", "刘洋", "0000")
    bind_by_holder(client, "3100000042", "刘洋", "1234")

    actions = list(
        AuditEvent.objects.filter(action__startswith="binding.")
        .order_by("seq")
        .values_list("action", "actor_id")
    )
    assert actions == [("binding.refused", customer.pk), ("binding.created", customer.pk)]


def test_attempts_are_limited_per_user(client, customer, account, settings):
    settings.BINDING_LIMIT_PER_USER = 3
    for _ in range(3):
        bind_by_holder(client, "3100000042", "刘洋", "0000")

    # Even the right proof is refused once the limit is reached.
    response = bind_by_holder(client, "3100000042", "刘洋", "1234")

    assert not Binding.objects.exists()
    assert AuditEvent.objects.filter(action="binding.rate_limited").count() == 1
    assert response.status_code == 200


def test_attempts_are_limited_per_account_number_across_users(client, account, settings):
    settings.BINDING_LIMIT_PER_NUMBER = 2
    for _ in range(2):
        client.force_login(UserFactory())
        bind_by_holder(client, "3100000042", "刘洋", "0000")

    client.force_login(UserFactory())
    bind_by_holder(client, "3100000042", "刘洋", "1234")

    assert not Binding.objects.exists()


def test_attempts_are_limited_per_address(client, account, settings):
    settings.BINDING_LIMIT_PER_IP = 2
    for _ in range(2):
        client.force_login(UserFactory())
        bind_by_holder(client, "3100000042", "刘洋", "0000")
    client.force_login(UserFactory())

    bind_by_holder(client, "3100000042", "刘洋", "1234")

    assert not Binding.objects.exists()


def _request_code(client, number, channel):
    return client.post(
        reverse("me:bind"),
        {"method": "code", "code-number": number, "code-channel": channel},
    )


def test_binding_with_a_code_texted_to_the_phone_on_file(
    client, customer, account, sms_messages, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _request_code(client, "3100000042", "phone_code")
    texts = sms_messages("+8613600136000")
    code = re.search(r"\b(\d{6})\b", texts[-1]["body"]).group(1)

    client.post(response["Location"], {"code": code, "label": "家"})

    assert Binding.objects.get(user=customer, account=account).proof == "phone_code"


def test_binding_with_a_code_mailed_to_the_address_on_file(
    client, customer, account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _request_code(client, "3100000042", "email_code")
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)

    client.post(response["Location"], {"code": code})

    assert Binding.objects.get(user=customer, account=account).proof == "email_code"


def test_a_code_request_for_an_unknown_number_looks_the_same_and_sends_nothing(
    client, customer, account, sms_messages, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        known = _request_code(client, "3100000042", "phone_code")
        unknown = _request_code(client, "3999999999", "phone_code")

    assert known.status_code == unknown.status_code == 302
    known_page = client.get(known["Location"])
    unknown_page = client.get(unknown["Location"])
    assert comparable(unknown_page) == comparable(known_page).replace("3100000042", "3999999999")
    assert len(sms_messages("+8613600136000")) == 1
    wrong = client.post(unknown["Location"], {"code": "123456"}, follow=True)
    assert "alert--error" in page_text(wrong)
    assert not Binding.objects.exists()


def test_a_wrong_code_five_times_burns_the_challenge(
    client, customer, account, sms_messages, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _request_code(client, "3100000042", "phone_code")
    code = re.search(r"\b(\d{6})\b", sms_messages("+8613600136000")[-1]["body"]).group(1)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        client.post(response["Location"], {"code": wrong})

    client.post(response["Location"], {"code": code})

    assert not Binding.objects.exists()


def test_someone_elses_challenge_is_not_found(client, customer, account):
    response = _request_code(client, "3100000042", "phone_code")
    client.force_login(UserFactory())

    assert client.get(response["Location"]).status_code == 404


def test_a_household_can_bind_the_same_account_independently(client, account):
    first, second = UserFactory(), UserFactory()
    for user in (first, second):
        client.force_login(user)
        bind_by_holder(client, "3100000042", "刘洋", "1234", label="家")

    assert Binding.objects.active().filter(account=account).count() == 2


def test_binding_the_same_account_twice_keeps_one_binding(client, customer, account):
    bind_by_holder(client, "3100000042", "刘洋", "1234")
    bind_by_holder(client, "3100000042", "刘洋", "1234")

    assert Binding.objects.filter(user=customer).count() == 1


def test_unbinding_ends_access_and_keeps_the_history(client, customer):
    binding = BindingFactory(user=customer)
    detail = reverse("me:account", args=[binding.uuid])
    assert client.get(detail).status_code == 200

    client.post(reverse("me:unbind", args=[binding.uuid]))

    assert client.get(detail).status_code == 404
    history = page_text(client.get(reverse("me:history")))
    assert binding.account.number in history
    assert AuditEvent.objects.filter(action="binding.ended").count() == 1


def test_relabelling_a_binding(client, customer):
    binding = BindingFactory(user=customer, label="家")

    client.post(reverse("me:relabel", args=[binding.uuid]), {"label": "父母家"})

    binding.refresh_from_db()
    assert binding.label == "父母家"


def test_another_persons_binding_is_not_found(client, customer):
    theirs = BindingFactory()

    for name in ("me:account",):
        assert client.get(reverse(name, args=[theirs.uuid])).status_code == 404
    for name in ("me:relabel", "me:unbind"):
        assert client.post(reverse(name, args=[theirs.uuid])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.ended_at is None


def test_the_phone_on_file_is_shown_masked(client, customer, account):
    binding = BindingFactory(user=customer, account=account)

    text = page_text(client.get(reverse("me:account", args=[binding.uuid])))

    assert "136****6000" in text
    assert "13600136000" not in text
