"""manage.py cleanup_expired (portal.services.expired_cleanup; docs/operations.md): expired
sessions, the session list's entries of sessions that are gone, binding codes past their
retention and expired e-mail confirmation keys go; live sessions, recent codes and every
invitation stay. Idempotent, safe to run twice at once. Runs on SQLite and on PostgreSQL.
"""

import io
import json
import re
import threading
from datetime import datetime, timedelta

import pytest
import time_machine
from allauth.account.models import EmailAddress, EmailConfirmation
from allauth.usersessions.models import UserSession
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import translation

from portal import organisations as org_services
from portal.binding import binding_challenge_start
from portal.core import clock
from portal.core.jobs import ExitStatus
from portal.models import AuditEvent, BindingChallenge, Invitation, JobProblem, MemberRole
from portal.services import CLEANUP_CHUNK, expired_cleanup
from tests.factories import (
    PASSWORD,
    MembershipFactory,
    OrganisationFactory,
    ServiceAccountFactory,
    UserFactory,
    totp_enrol,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 10, tzinfo=clock.BUSINESS_TIME_ZONE)
SESSION_AGE = timedelta(seconds=django_settings.SESSION_COOKIE_AGE)  # two weeks


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def sign_in(user) -> Client:
    """A person signs in with their password, as on the sign-in page."""
    client = Client(headers={"accept-language": "en"})
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def cleanup() -> str:
    out = io.StringIO()
    call_command("cleanup_expired", stdout=out)
    return out.getvalue()


def counts(output: str) -> dict[str, int]:
    """The report's lines "… removed: N" by their words."""
    return {
        label: int(number)
        for label, number in re.findall(r"^(.*?) removed: (\d+)$", output, flags=re.MULTILINE)
    }


@pytest.mark.parametrize(
    "engine",
    ["django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db"],
)
def test_expired_sessions_go_and_a_signed_in_person_stays_signed_in(settings, engine):
    settings.SESSION_ENGINE = engine  # production's is cached_db
    with time_machine.travel(NOW - SESSION_AGE - timedelta(days=1), tick=False):
        gone = UserFactory()
        sign_in(gone)
    with time_machine.travel(NOW, tick=False):
        staying = UserFactory()
        client = sign_in(staying)
        assert Session.objects.count() == 2

        output = cleanup()

        assert counts(output)["Expired sessions"] == 1
        assert Session.objects.count() == 1
        assert client.get(reverse("me:dashboard")).status_code == 200
        # The session list shows the person their own session, not the vanished one's entry.
        assert list(UserSession.objects.values_list("user", flat=True)) == [staying.pk]
        assert counts(output)["Session list entries of ended sessions"] == 1
        assert output.splitlines()[-1] == "Done."


def test_an_entry_whose_session_was_just_created_is_left_alone():
    with time_machine.travel(NOW, tick=False):
        client = sign_in(UserFactory())
        # The session row is gone (as when it is being written by another process) but the
        # entry is minutes old: it is not touched.
        Session.objects.all().delete()

        expired_cleanup()

        assert UserSession.objects.count() == 1
        assert client.get(reverse("me:dashboard")).status_code == 302  # signed out, as it is


def test_binding_codes_are_kept_for_the_retention_period_after_they_expire(settings):
    settings.BINDING_CHALLENGE_RETENTION_DAYS = 30
    account = ServiceAccountFactory()
    user = UserFactory()
    started = NOW - timedelta(days=40)
    for offset in (timedelta(0), timedelta(days=20)):
        with time_machine.travel(started + offset, tick=False):
            binding_challenge_start(user=user, number=account.number, channel="phone_code")
    old, recent = BindingChallenge.objects.order_by("created_at")

    with time_machine.travel(NOW, tick=False):
        output = cleanup()

    assert list(BindingChallenge.objects.all()) == [recent]  # expired 20 days ago: kept
    assert counts(output)["Binding codes expired more than 30 days ago"] == 1


def test_expired_email_confirmation_keys_go():
    address = EmailAddress.objects.get(user=UserFactory(email_verified=False))
    with time_machine.travel(NOW, tick=False):
        EmailConfirmation.objects.create(
            email_address=address, key="stale", sent=NOW - timedelta(days=30)
        )
        fresh = EmailConfirmation.objects.create(email_address=address, key="fresh", sent=NOW)

        output = cleanup()

    assert list(EmailConfirmation.objects.all()) == [fresh]
    assert counts(output)["Expired e-mail confirmation keys"] == 1


def test_expired_invitations_are_kept_for_the_administrators_history():
    organisation = OrganisationFactory()
    admin = MembershipFactory(organisation=organisation, role=MemberRole.ADMIN)
    totp_enrol(admin.user)
    with time_machine.travel(NOW - timedelta(days=400), tick=False):
        org_services.invitation_create(by=admin, email="li.na@example.cn", role="member")

    with time_machine.travel(NOW, tick=False):
        cleanup()
        client = Client(headers={"accept-language": "en"})
        client.force_login(admin.user)
        page = client.get(reverse("org:members", kwargs={"org": organisation.uuid}))

    assert Invitation.objects.count() == 1
    earlier = page.content.decode().split("Earlier invitations", 1)[1]
    assert "li.na@example.cn" in earlier and "expired" in earlier


def test_a_second_run_finds_nothing_left_and_only_the_first_is_audited():
    with time_machine.travel(NOW - SESSION_AGE - timedelta(days=1), tick=False):
        sign_in(UserFactory())
    with time_machine.travel(NOW, tick=False):
        first = counts(cleanup())
        second = counts(cleanup())

    assert first["Expired sessions"] == 1
    assert set(second.values()) == {0}
    [audited] = AuditEvent.objects.filter(action="cleanup.expired_removed")
    assert json.loads(audited.data) == {
        "sessions": 1,
        "user_sessions": 1,
        "binding_challenges": 0,
        "email_confirmations": 0,
    }


def test_a_session_store_outside_the_database_clears_itself(settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"

    output = cleanup()

    assert "Expired sessions: cleared by the session store" in output
    assert output.splitlines()[-1] == "Done."


def test_a_step_that_fails_is_kept_for_a_person_and_the_others_run(settings):
    # A retention so long that "expired before" falls before year 1: that step cannot run.
    settings.BINDING_CHALLENGE_RETENTION_DAYS = 999_999
    with time_machine.travel(NOW - SESSION_AGE - timedelta(days=1), tick=False):
        sign_in(UserFactory())

    with time_machine.travel(NOW, tick=False), pytest.raises(CommandError) as raised:
        out = io.StringIO()
        call_command("cleanup_expired", stdout=out)

    assert raised.value.returncode == ExitStatus.NEEDS_PERSON
    assert str(raised.value).startswith("Done with 1 skipped.")
    assert counts(out.getvalue())["Expired sessions"] == 1  # the other steps ran
    assert "binding_challenges: binding_challenges: OverflowError" in out.getvalue()
    problem = JobProblem.objects.get()
    assert (problem.job, problem.step) == ("cleanup_expired", "binding_challenges")


# --- Two runs at once (PostgreSQL: SQLite lets one writer in at a time anyway) ------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_remove_each_row_once_between_them():
    expired_count = CLEANUP_CHUNK * 2 + 7  # several chunks, so the two runs interleave
    user = UserFactory()
    account = ServiceAccountFactory()
    Session.objects.bulk_create(
        Session(session_key=f"expired{n:025d}", session_data="", expire_date=NOW - SESSION_AGE)
        for n in range(expired_count)
    )
    Session.objects.create(session_key="live" + "0" * 28, session_data="", expire_date=NOW)
    with time_machine.travel(NOW - timedelta(days=60), tick=False):
        for _ in range(3):
            binding_challenge_start(user=user, number=account.number, channel="email_code")

    start = threading.Barrier(2)
    reports, errors = [None, None], []

    def run(i):
        try:
            start.wait()
            reports[i] = expired_cleanup(now=NOW - timedelta(seconds=1))
        except BaseException as error:  # noqa: BLE001 - handed to the test below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert [report.run.skipped for report in reports] == [[], []]
    assert sum(report.sessions for report in reports) == expired_count
    assert sum(report.binding_challenges for report in reports) == 3
    assert list(Session.objects.values_list("session_key", flat=True)) == ["live" + "0" * 28]
    assert not BindingChallenge.objects.exists()
