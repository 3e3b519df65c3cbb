"""The demo's applications (applications/demo.py, run at the end of `manage.py seed_demo`): one
of each state for the demo resident, a case staff opened on the hotline, one of the
organisation's; made once; and every page of them opens for the resident."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from applications.models import Case, CaseChannel, CaseDocument, CaseEvent, StepClock
from portal.models import AuditEvent, User
from tests.db_state import made_once

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, ...]:
    return (
        Case.objects.count(),
        CaseEvent.objects.count(),
        StepClock.objects.count(),
        CaseDocument.objects.count(),
        AuditEvent.objects.count(),
    )


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker, tmp_path_factory):
    """``seed_demo``, once for the module's tests (tests/db_state.py, ``made_once``): what it
    printed, and the folder of its uploads."""
    files = tmp_path_factory.mktemp("demo")
    with made_once(django_db_blocker, files):
        out = io.StringIO()
        call_command("seed_demo", stdout=out)
        yield out.getvalue(), files


def test_seed_demo_makes_each_kind_of_case_once_and_the_resident_can_open_them(
    seeded, client, settings
):
    out, files = seeded
    settings.MEDIA_ROOT = files / "media"  # the scans it uploaded

    resident = User.objects.get(email="resident@demo.powerhall.cn")
    states = sorted(
        (case.status, case.step) for case in Case.objects.filter(organisation__isnull=True)
    )
    assert states == sorted(
        [
            ("draft", ""),
            ("submitted", ""),
            ("in_progress", "supply_plan_reply"),
            ("waiting_customer", "accepted"),
            ("completed", "archived"),
            ("in_progress", "handling"),
        ]
    )
    running = StepClock.objects.filter(case__step="supply_plan_reply", finished_at__isnull=True)
    # The set in use (sgcc-2023) promises nothing for the supply plan reply alone, but the whole
    # new connection in 5 working days: that clock gives the case its deadline.
    assert running.get(whole_case=False).due_at is None
    whole = running.get(whole_case=True)
    assert (whole.commitment, whole.paused_at) == ("new_connection", None)
    assert whole.due_at is not None and whole.case.due_at == whole.due_at
    # The hotline case's step has its own (disputed reading, 5 days).
    handling = StepClock.objects.get(case__step="handling", finished_at__isnull=True)
    assert handling.due_at is not None and handling.commitment == "disputed_reading"
    waiting = StepClock.objects.filter(case__status="waiting_customer", finished_at__isnull=True)
    assert waiting.exists() and all(c.paused_at is not None for c in waiting)
    hotline = Case.objects.get(channel=CaseChannel.HOTLINE)
    assert hotline.applicant is None and hotline.opened_by.email == "staff@demo.powerhall.cn"
    draft = Case.objects.get(status="draft")
    assert draft.documents.count() == 1 and draft.applicant == resident
    organisations = Case.objects.filter(organisation__isnull=False)
    assert [c.applicant.email for c in organisations] == ["bizadmin@demo.powerhall.cn"]
    assert all(doc.file.read(8) == b"\x89PNG\r\n\x1a\n" for doc in CaseDocument.objects.all())
    assert out.count("demo applications") == 1

    before = counts()
    second = io.StringIO()
    call_command("seed_demo", stdout=second)
    assert counts() == before
    assert "demo applications" not in second.getvalue()

    client.force_login(resident)
    listing = client.get(reverse("applications:list"))
    assert listing.status_code == 200
    text = listing.content.decode()
    for case in Case.objects.filter(organisation__isnull=True):
        assert case.reference in text
        page = client.get(reverse("applications:detail", kwargs={"uuid": case.uuid}), follow=True)
        assert page.status_code == 200
        assert case.reference in page.content.decode()
        for doc in case.documents.all():
            url = reverse("applications:document", kwargs={"uuid": case.uuid, "document": doc.uuid})
            assert client.get(url).status_code == 200
    # The organisation's case is not the resident's.
    assert organisations.get().reference not in text


def test_the_demo_member_without_the_apply_scope_sees_none_of_the_organisations_cases(
    seeded, client
):
    member = User.objects.get(email="member@demo.powerhall.cn")
    case = Case.objects.get(organisation__isnull=False)
    client.force_login(member)

    listing = client.get(reverse("org:applications", kwargs={"org": case.organisation.uuid}))
    start = client.get(reverse("org:application_start", kwargs={"org": case.organisation.uuid}))

    assert case.reference not in listing.content.decode()
    assert "data-apply-refused" in start.content.decode()
    assert client.get(reverse("applications:detail", kwargs={"uuid": case.uuid})).status_code == 404
