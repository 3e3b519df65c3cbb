"""Notifications: a payment tells the payer once, by e-mail (text and HTML, the receipt attached)
and SMS, in their language; preferences switch channels off; a failing mail server loses
nothing; the preference page saves and audits (portal/notifications.py).

Runs on SQLite and on PostgreSQL. Bill reminders and bill-issued notices:
tests/payments/test_reminders.py.
"""

import email
import email.policy
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from payments import checkout
from payments.models import Receipt
from payments.refunds import refund_request
from payments.reminders import payment_received_notify
from payments.webhooks import webhook_receive
from portal import notification_delivery, notifications
from portal.core import clock
from portal.models import Channel, JobProblem, Notification, NotificationKind, NotificationStatus
from portal.services import user_close
from portal.tasks import notifications_deliver
from tests.factories import BindingFactory, PhoneUserFactory, StaffUserFactory, UserFactory
from tests.payments.test_checkout import local_pay, own_bill
from tests.poison import MESSAGE, refuse_changes

pytestmark = pytest.mark.django_db

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
REFUSING_SMTP = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        # Nothing listens on port 9 here: the connection is refused at once.
        "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 2},
    }
}
LOCAL_MAIL = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


def parts(message) -> dict[str, str]:
    """The e-mail as a mail client reads it: its text and HTML bodies, decoded."""
    parsed = email.message_from_bytes(message.message().as_bytes(), policy=email.policy.default)
    return {
        "text": parsed.get_body(preferencelist=("plain",)).get_content(),
        "html": parsed.get_body(preferencelist=("html",)).get_content(),
    }


def paid(user, capture):
    """``user`` pays one of their own bills through the local test gateway, commit callbacks
    (the notification, its task) run as after a real commit."""
    bill = own_bill(user)
    attempt = checkout.attempt_create(user=user, bill_uuids=[bill.uuid])
    with capture(execute=True):
        answer, payload, signature = local_pay(attempt)
    assert answer.status == 200
    return bill, attempt, payload, signature


# --- A payment ------------------------------------------------------------------------------------
def test_a_payment_sends_one_email_in_the_payers_language_with_text_html_and_receipt(
    mailoutbox, django_capture_on_commit_callbacks
):
    customer = UserFactory(language="en")
    bill, attempt, _payload, _signature = paid(customer, django_capture_on_commit_callbacks)

    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [customer.email]
    assert message.subject == f"Payment received: ¥{attempt.amount:,.2f}"
    body = parts(message)
    for text in (body["text"], body["html"]):
        assert attempt.reference in text
        assert bill.number in text
        assert "Account number" in text
        assert "户号" not in text
        assert reverse("pay:done", kwargs={"attempt": attempt.uuid}) in text
        assert reverse("me:notifications") in text
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"
    receipt = Receipt.objects.get(attempt=attempt, kind="payment")
    [(filename, content, mimetype)] = message.attachments
    assert (filename, mimetype) == (f"{receipt.number}.pdf", "application/pdf")
    assert content.startswith(b"%PDF")
    assert "The receipt is attached" in body["text"]
    row = Notification.objects.get(channel=Channel.EMAIL)
    assert (row.kind, row.status, row.attempts, row.language) == (
        NotificationKind.PAYMENT_RECEIVED,
        NotificationStatus.SENT,
        1,
        "en",
    )
    assert row.sent_at is not None
    assert row.recipient == customer.email
    assert row.context["amount"] == f"{attempt.amount:.2f}"  # stored as text, not a float


def test_a_person_without_a_language_is_written_to_in_chinese(
    mailoutbox, django_capture_on_commit_callbacks
):
    customer = UserFactory()
    paid(customer, django_capture_on_commit_callbacks)

    body = parts(mailoutbox[0])
    assert "户号" in body["text"]
    assert 'lang="zh-hans"' in body["html"]
    assert Notification.objects.get().language == "zh-hans"


def test_the_payment_also_goes_by_text_message_to_the_verified_phone(
    mailoutbox, sms_messages, django_capture_on_commit_callbacks
):
    customer = PhoneUserFactory(language="en")
    _bill, attempt, _payload, _signature = paid(customer, django_capture_on_commit_callbacks)

    [text] = sms_messages(customer.phone)
    assert text["purpose"] == "notification"
    assert attempt.reference in text["body"]
    assert f"¥{attempt.amount:,.2f}" in text["body"]
    assert len(mailoutbox) == 1
    assert set(Notification.objects.values_list("channel", "status")) == {
        (Channel.EMAIL, NotificationStatus.SENT),
        (Channel.SMS, NotificationStatus.SENT),
    }


def test_the_same_payment_event_again_sends_nothing_more(
    mailoutbox, sms_messages, django_capture_on_commit_callbacks
):
    customer = PhoneUserFactory()
    _bill, attempt, payload, signature = paid(customer, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        webhook_receive(payload, signature, gateway="local")
        # Even asked directly, the same event is not notified twice.
        payment_received_notify(attempt=attempt, message={"bills": []})

    assert len(mailoutbox) == 1
    assert len(sms_messages(customer.phone)) == 1
    assert Notification.objects.count() == 2


def test_a_channel_switched_off_sends_nothing_on_it(
    mailoutbox, sms_messages, django_capture_on_commit_callbacks
):
    customer = PhoneUserFactory()
    everything_but_payment_mail = {
        f"{kind}:{channel}"
        for kind, channel in notifications.preference_pairs()
        if (kind, channel) != (NotificationKind.PAYMENT_RECEIVED, Channel.EMAIL)
    }
    notifications.notification_preferences_set(
        user=customer, enabled=everything_but_payment_mail, language="zh-hans"
    )

    paid(customer, django_capture_on_commit_callbacks)

    assert mailoutbox == []
    assert len(sms_messages(customer.phone)) == 1
    assert list(Notification.objects.values_list("channel", flat=True)) == [Channel.SMS]


def test_no_text_message_to_a_number_that_is_not_verified(
    sms_messages, django_capture_on_commit_callbacks
):
    customer = PhoneUserFactory(phone_verified=False)
    paid(customer, django_capture_on_commit_callbacks)

    assert sms_messages(customer.phone) == []
    assert list(Notification.objects.values_list("channel", flat=True)) == [Channel.EMAIL]


def test_a_refund_tells_the_payer_once_with_the_refund_note(
    mailoutbox, django_capture_on_commit_callbacks
):
    customer = UserFactory(language="en")
    bill, attempt, _payload, _signature = paid(customer, django_capture_on_commit_callbacks)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        refund = refund_request(
            attempt=attempt, amount=Decimal("10.00"), reason="overpaid", by=StaffUserFactory()
        )

    assert refund.status == "succeeded"
    [message] = mailoutbox
    assert message.to == [customer.email]
    assert message.subject == f"Refund of ¥10.00 for payment {attempt.reference}"
    body = parts(message)
    assert bill.number in body["text"] and "¥10.00 owed again" in body["text"]
    note = Receipt.objects.get(refund=refund)
    [(filename, content, _mimetype)] = message.attachments
    assert filename == f"{note.number}.pdf" and content.startswith(b"%PDF")
    row = Notification.objects.get(kind=NotificationKind.REFUND)
    assert row.status == NotificationStatus.SENT


# --- Sending: at most once, and nothing lost ------------------------------------------------------
def _recorded(customer) -> Notification:
    """A payment-received e-mail recorded but not sent: its task never ran."""
    [row] = notifications.notify(
        user=customer,
        kind=NotificationKind.PAYMENT_RECEIVED,
        key="a-payment",
        context=SAMPLES[NotificationKind.PAYMENT_RECEIVED],
    )
    return row


def test_two_tasks_for_the_same_notification_send_it_once(
    mailoutbox, django_capture_on_commit_callbacks
):
    customer = UserFactory()
    with django_capture_on_commit_callbacks(execute=False):
        row = _recorded(customer)

    assert notification_delivery.notification_send(pk=row.pk, attempt=1) == ""
    # A duplicate task (an enqueue repeated, a requeue racing it) finds the try claimed.
    assert notification_delivery.notification_send(pk=row.pk, attempt=1) == ""
    assert notification_delivery.notification_send(pk=row.pk, attempt=2) == ""

    assert len(mailoutbox) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 1)


def test_a_notification_whose_row_cannot_be_changed_does_not_stop_its_batch(
    mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        first, poisoned, last = (_recorded(UserFactory()) for _n in range(3))
    refuse_changes(Notification, poisoned.pk)

    notifications_deliver.call(notifications=[first.pk, poisoned.pk, last.pk])

    assert sorted(m.to[0] for m in mailoutbox) == sorted([first.recipient, last.recipient])
    for row in (first, poisoned, last):
        row.refresh_from_db()
    assert (first.status, last.status) == (NotificationStatus.SENT, NotificationStatus.SENT)
    assert (poisoned.status, poisoned.attempts) == (NotificationStatus.QUEUED, 0)  # requeued later
    problem = JobProblem.objects.get()
    assert (problem.job, problem.row) == (
        "notifications_deliver",
        f"portal.notification:{poisoned.pk}",
    )
    assert MESSAGE in problem.error

    notifications_deliver.call(notifications=[poisoned.pk])
    assert JobProblem.objects.get().count == 2
    assert len(mailoutbox) == 2


def test_nothing_is_sent_to_someone_who_closed_their_account_meanwhile(
    mailoutbox, django_capture_on_commit_callbacks
):
    customer = UserFactory()
    with django_capture_on_commit_callbacks(execute=False):
        row = _recorded(customer)
    user_close(user=customer)

    notification_delivery.notification_send(pk=row.pk)

    assert mailoutbox == []
    row.refresh_from_db()
    assert row.status == NotificationStatus.FAILED


def test_without_a_worker_to_retry_a_failed_send_is_marked_failed_with_its_error(
    settings, django_capture_on_commit_callbacks
):
    settings.MAILERS = REFUSING_SMTP
    customer = UserFactory()

    paid(customer, django_capture_on_commit_callbacks)

    row = Notification.objects.get()
    assert (row.status, row.attempts) == (NotificationStatus.FAILED, 1)
    assert "ConnectionRefusedError" in row.error
    assert row.sent_at is None


# The worker closes stale connections between tasks, as in production, so it needs real commits.
@pytest.mark.django_db(transaction=True)
def test_a_failing_mail_server_leaves_the_notification_queued_and_the_retry_sends_it(
    settings, mailoutbox
):
    settings.TASKS = DATABASE_TASKS
    settings.MAILERS = REFUSING_SMTP
    customer = UserFactory(language="en")
    bill = own_bill(customer)
    attempt = checkout.attempt_create(user=customer, bill_uuids=[bill.uuid])
    local_pay(attempt)  # commits: the notification is recorded and its task queued

    call_command("db_worker", "--batch", "--no-startup-delay")

    row = Notification.objects.get()
    assert (row.status, row.attempts) == (NotificationStatus.QUEUED, 1)
    assert "ConnectionRefusedError" in row.error
    retry = DBTaskResult.objects.get(
        status=TaskResultStatus.READY, task_path="portal.tasks.notification_deliver"
    )
    assert retry.args_kwargs["kwargs"] == {"notification": row.pk, "attempt": 2}
    assert retry.run_after > clock.now()

    # The mail server is back; the worker runs the retry when it falls due.
    settings.MAILERS = LOCAL_MAIL
    with time_machine.travel(retry.run_after + timedelta(seconds=1)):
        call_command("db_worker", "--batch", "--no-startup-delay")

    row.refresh_from_db()
    assert (row.status, row.attempts, row.error) == (NotificationStatus.SENT, 2, "")
    assert [m.subject for m in mailoutbox] == [row.subject]


def test_notifications_whose_task_was_lost_are_queued_again_but_never_one_claimed(
    mailoutbox, django_capture_on_commit_callbacks
):
    customer = UserFactory()
    with django_capture_on_commit_callbacks(execute=False):  # the task is lost
        never_tried = _recorded(customer)
    claimed = Notification.objects.create(
        user=customer,
        kind=NotificationKind.REFUND,
        channel=Channel.EMAIL,
        idempotency_key="refund:lost:email",
        recipient=customer.email,
        subject="x",
        language="en",
        # The process died while sending: the message may well have gone out.
        attempts=1,
    )
    Notification.objects.update(created_at=clock.now() - timedelta(hours=1))

    assert notifications.notifications_requeue() == 1

    assert len(mailoutbox) == 1
    never_tried.refresh_from_db()
    claimed.refresh_from_db()
    assert never_tried.status == NotificationStatus.SENT
    assert (claimed.status, claimed.attempts) == (NotificationStatus.QUEUED, 1)


# --- Every kind renders, in both languages, on both channels -------------------------------------
SAMPLE_BILL = {
    "name": "张三",
    "account": "31****0001",
    "label": "家 & 店",
    "bill": {
        "number": "B202610001",
        "month": "2026-10",
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "issue_date": "2026-11-05",
        "due_date": "2026-11-20",
        "kwh": "1260.50",
        "amount": "1128.46",
        "url": "http://testserver/bills/x/",
    },
}
SAMPLES = {
    NotificationKind.BILL_ISSUED: SAMPLE_BILL,
    NotificationKind.BILL_DUE_SOON: SAMPLE_BILL | {"owed": "1128.46"},
    NotificationKind.BILL_OVERDUE: SAMPLE_BILL
    | {
        "as_of": "2026-11-27",
        "days_overdue": 7,
        "principal": "1128.46",
        "penalty": "7.90",
        "total": "1136.36",
    },
    NotificationKind.PAYMENT_RECEIVED: {
        "name": "张三",
        "reference": "WEB-0123456789ABCDEF",
        "amount": "1136.36",
        "paid_at": "2026-11-27 10:05",
        "organisation": "",
        "bills": [
            {"number": "B1", "account": "31****0001", "amount": "1128.46", "penalty": "7.90"}
        ],
        "url": "http://testserver/pay/x/done/",
    },
    NotificationKind.REFUND: {
        "name": "张三",
        "reference": "WEB-0123456789ABCDEF",
        "amount": "100.00",
        "payment_amount": "1136.36",
        "refunded_at": "2026-11-28 09:00",
        "bills": [{"number": "B1", "account": "31****0001", "owed_again": "100.00"}],
        "url": "http://testserver/pay/x/done/",
    },
    NotificationKind.APPLICATION_STATUS: {
        "name": "张三",
        "application": {
            "reference": "A-2026-0001",
            "title": "增容",
            "status": "已受理",
            "note": "",
            "url": "http://testserver/applications/x/",
        },
    },
    NotificationKind.APPLICATION_SURVEY: {
        "name": "张三",
        "application": {
            "reference": "A-2026-0001",
            "title": "新装",
            "url": "http://testserver/survey/x/",
            "until": "2026-12-31",
        },
    },
    NotificationKind.OUTAGE: {
        "account": "31****0001",
        "label": "",
        "others": 2,
        "revised": True,
        "outage": {
            "title": "计划停电",
            "planned": True,
            "start": "2026-12-01 08:00",
            "end": "2026-12-01 17:00",
            "area": "望京 112 线",
            "reason": "线路检修",
            "url": "http://testserver/notices/x/",
        },
    },
}


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("kind", NotificationKind.values)
def test_every_kind_renders_a_subject_text_html_and_sms(kind, language):
    assert set(SAMPLES) == set(NotificationKind.values)
    customer = UserFactory(language=language)
    [row] = notifications.notify(user=customer, kind=kind, key="sample", context=SAMPLES[kind])
    sms = Notification(**{**_fields(row), "channel": Channel.SMS, "recipient": "+8613900000000"})

    message = notification_delivery.notification_message(row)
    text = notification_delivery.notification_message(sms)

    assert row.subject and "\n" not in row.subject and "{" not in row.subject
    body = parts(message)
    assert "{{" not in body["text"] and "{%" not in body["text"]
    assert "&amp;" not in body["text"] and "&amp;" not in row.subject  # plain text is not HTML
    assert "\n\n\n" not in body["text"]
    assert f'lang="{language}"' in body["html"]
    assert "\n" not in text and text.strip() == text and len(text) < 200


def _fields(row: Notification) -> dict:
    return {
        f.name: getattr(row, f.name) for f in Notification._meta.fields if f.name not in ("id",)
    }


# --- The preference page --------------------------------------------------------------------------
def test_the_preference_page_shows_defaults_where_messages_go_and_what_was_sent(
    client, django_capture_on_commit_callbacks
):
    customer = PhoneUserFactory(language="en")
    paid(customer, django_capture_on_commit_callbacks)
    client.force_login(customer)

    response = client.get(reverse("me:notifications"))

    page = response.content.decode()
    assert response.status_code == 200
    assert customer.email in page
    assert customer.phone not in page  # masked
    assert customer.phone[3:6] + "****" + customer.phone[-4:] in page
    for kind, channel in notifications.preference_pairs():
        checked = notifications.DEFAULTS[(kind, channel)]
        box = re.search(rf'name="enabled" value="{kind}:{channel}" id="[^"]+"( checked)?>', page)
        assert box and bool(box.group(1)) == checked, (kind, channel)
    assert page.count("Payment received:") == 2  # the e-mail and the text, in the history
    assert reverse("me:notifications") in page


def test_the_preference_page_saves_choices_and_language_and_audits_them(
    client, audit_actions, mailoutbox, django_capture_on_commit_callbacks
):
    customer = UserFactory()
    BindingFactory(user=customer)
    client.force_login(customer)

    response = client.post(
        reverse("me:notifications"),
        {"enabled": ["bill_overdue:email", "bill_overdue:sms"], "language": "en"},
    )

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.language == "en"
    chosen = notifications.preferences_for(user_ids=[customer.pk])
    assert {(k, c) for (_u, k, c), on in chosen.items() if on} == {
        ("bill_overdue", "email"),
        ("bill_overdue", "sms"),
    }
    assert audit_actions(action="notifications.preferences_changed") == [
        "notifications.preferences_changed"
    ]
    # Saved again unchanged: nothing to audit.
    client.post(
        reverse("me:notifications"),
        {"enabled": ["bill_overdue:email", "bill_overdue:sms"], "language": "en"},
    )
    assert len(audit_actions(action="notifications.preferences_changed")) == 1
    # And it takes effect: payment e-mails are off now.
    paid(customer, django_capture_on_commit_callbacks)
    assert mailoutbox == []


def test_the_preference_page_refuses_an_unknown_choice(client):
    customer = UserFactory()
    client.force_login(customer)

    response = client.post(
        reverse("me:notifications"), {"enabled": ["bill_overdue:pigeon"], "language": "en"}
    )

    assert response.status_code == 200
    assert not customer.notification_preferences.exists()


def test_the_preference_page_needs_a_signed_in_person(client):
    response = client.get(reverse("me:notifications"))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]
