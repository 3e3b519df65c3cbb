"""One TASKS configuration serves Wagtail's background work (django_tasks) and ours
(django.tasks), in-process by default and through the database worker in production."""

import pytest
from django.core import mail
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.core.mail import EmailMessage
from django.core.management import call_command
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from wagtail.tasks import delete_file_from_storage_task

from portal.tasks import email_deliver, email_enqueue

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def _message(**overrides):
    fields = {
        "subject": "电费账单",
        "body": "您的账单已出。",
        "from_email": "noreply@powerhall.test",
        "to": ["zhang@example.com"],
    }
    fields.update(overrides)
    message = EmailMessage(**fields)
    message.attach("note.txt", "附件内容".encode(), "text/plain")
    return message


@pytest.mark.django_db
def test_by_default_an_enqueued_email_is_delivered_in_process():
    email_enqueue(_message())

    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.subject == "电费账单"
    assert sent.to == ["zhang@example.com"]
    assert sent.attachments[0].content == "附件内容"


# The worker closes stale connections between tasks, as in production, so it needs real commits.
@pytest.mark.django_db(transaction=True)
def test_database_worker_runs_a_wagtail_task_and_one_of_ours(settings):
    settings.TASKS = DATABASE_TASKS
    # Wagtail removes replaced image and document files with this task.
    storage = FileSystemStorage(location=str(settings.MEDIA_ROOT))
    stale = storage.save("original_images/stale.jpg", ContentFile(b"old rendition"))

    wagtail_result = delete_file_from_storage_task.enqueue(storage.deconstruct(), stale)
    email_enqueue(_message())

    # Queued, not run: nothing delivered until a worker picks the tasks up.
    assert mail.outbox == []
    assert storage.exists(stale)
    assert DBTaskResult.objects.count() == 2

    call_command("db_worker", "--batch", "--no-startup-delay")

    statuses = {r.task_path: r.status for r in DBTaskResult.objects.all()}
    assert statuses == {
        "wagtail.tasks.delete_file_from_storage_task": TaskResultStatus.SUCCESSFUL,
        "portal.tasks.email_deliver": TaskResultStatus.SUCCESSFUL,
    }
    assert wagtail_result.id in {str(r.id) for r in DBTaskResult.objects.all()}
    assert [m.subject for m in mail.outbox] == ["电费账单"]
    assert not storage.exists(stale)


@pytest.mark.django_db(transaction=True)
def test_failed_email_delivery_is_retried_later_by_the_worker(settings):
    settings.TASKS = DATABASE_TASKS
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            # Nothing listens on port 9 here: the connection is refused at once.
            "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 2},
        }
    }
    email_enqueue(_message())

    call_command("db_worker", "--batch", "--no-startup-delay")

    # The first attempt failed and scheduled a second one for later instead of losing the mail.
    results = list(DBTaskResult.objects.order_by("enqueued_at"))
    assert [r.status for r in results] == [TaskResultStatus.SUCCESSFUL, TaskResultStatus.READY]
    assert results[1].args_kwargs["kwargs"]["attempt"] == 2
    assert results[1].run_after is not None


@pytest.mark.django_db
def test_an_email_task_rolled_back_with_its_transaction_is_never_sent(settings):
    from django.db import transaction

    settings.TASKS = DATABASE_TASKS

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        email_deliver.enqueue(payload={"subject": "x"})
        raise Abort

    assert DBTaskResult.objects.count() == 0
