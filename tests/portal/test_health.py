"""GET /healthz, for the load balancer: the database, the cache and the task queue."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.mail import EmailMessage
from django.test import override_settings

from portal.tasks import email_enqueue
from tests.portal.test_settings import _manage

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_a_healthy_server_answers_ok_without_a_session(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "tasks": "ok"},
        "tasks_waiting_seconds": None,
    }
    assert "sessionid" not in response.cookies
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_an_unreachable_cache_takes_the_server_out_of_rotation(client, caplog):
    # Nothing listens on port 1: every cache call fails as with a Redis that is down. (Not the
    # settings fixture: the suite's clean-up empties the cache after the test, with the real one.)
    down = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    with override_settings(CACHES=down):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert response.json()["checks"] == {"database": "ok", "cache": "error", "tasks": "ok"}
    assert "health check: cache unreachable" in caplog.text


@pytest.mark.django_db
def test_the_task_queue_backlog_is_reported_not_failed_on(client, settings):
    settings.TASKS = DATABASE_TASKS
    with time_machine.travel(NOW, tick=False):
        email_enqueue(
            EmailMessage("电费账单", "您的账单已出。", "n@powerhall.test", ["z@example.com"])
        )

    with time_machine.travel(NOW + timedelta(minutes=20), tick=False):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["checks"]["tasks"] == "ok"
    assert response.json()["tasks_waiting_seconds"] == 20 * 60


@pytest.mark.any_date
def test_a_database_that_does_not_answer_takes_the_server_out_of_rotation():
    """A real refusal: the portal started with its database on a port nothing listens on."""
    code = (
        "import json; from django.test import Client; r = Client().get('/healthz'); "
        "print(r.status_code, json.dumps(r.json()))"
    )

    answer = _manage(
        "shell", "-c", code, env={"DATABASE_URL": "postgres://postgres@127.0.0.1:1/powerhall"}
    )

    assert answer.returncode == 0, answer.stderr
    status, body = answer.stdout.strip().splitlines()[-1].split(" ", 1)
    assert status == "503"
    assert json.loads(body) == {
        "status": "error",
        "checks": {"database": "error", "cache": "ok", "tasks": "ok"},
        "tasks_waiting_seconds": None,
    }
    assert "health check: database unreachable" in answer.stderr
