"""Service staff correct a published commitment set in the back office (/cms-admin/commitments/):
the clocks count with the new figure at once, and the change is audited."""

import json
from datetime import date

import pytest

from applications.commitments import rule_for
from applications.models import Commitment, CommitmentRule, CommitmentRuleSet
from portal.models import AuditEvent
from tests.factories import UserFactory
from tests.payments.test_tariff_admin import form_fields

pytestmark = pytest.mark.django_db

SETS = "/cms-admin/commitments/"


def test_staff_correct_a_time_limit_and_its_date(client, service_staff):
    csg = CommitmentRuleSet.objects.get(code="csg")
    edit = f"{SETS}edit/{csg.pk}/"
    data = form_fields(client.get(edit), "effective_from")
    index = next(
        key.split("-")[1]
        for key, value in data.items()
        if key.endswith("-commitment") and value == Commitment.RECONNECTION
    )
    data |= {"effective_from": "2021-03-01", f"rules-{index}-amount": "8"}

    response = client.post(edit, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    csg.refresh_from_db()
    assert csg.effective_from == date(2021, 3, 1)
    assert rule_for(commitment=Commitment.RECONNECTION, rule_set=csg).amount == 8
    event = AuditEvent.objects.get(action="commitments.set_updated")
    assert event.actor_id == service_staff.pk
    change = json.loads(event.data)
    assert change["before"]["effective_from"] == "2021-01-01"
    assert ["reconnection", "", 8, "hours"] in change["after"]["rules"]


def test_the_list_shows_every_published_set(client, service_staff):
    page = client.get(SETS).content.decode()

    assert "供电服务承诺（2011 年版）" in page and "供电服务承诺（南方电网）" in page


def test_a_customer_cannot_open_the_commitments(client):
    client.force_login(UserFactory())

    assert client.get(SETS).status_code in (302, 403)
    assert CommitmentRule.objects.filter(amount=8).count() == 0
