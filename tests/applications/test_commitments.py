"""Service commitments as data: the published sets are there after migrate, the rule for a
customer class is found, and each unit falls due when a customer would expect."""

from datetime import datetime

import pytest

from applications.commitments import deadline, rule_for, rule_set_in_use
from applications.models import Commitment, CommitmentRuleSet
from portal.core.clock import BUSINESS_TIME_ZONE

pytestmark = pytest.mark.django_db


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=BUSINESS_TIME_ZONE)


def sgcc_2011():
    return CommitmentRuleSet.objects.get(code="sgcc-2011")


def test_the_published_sets_are_loaded_with_their_figures():
    assert set(CommitmentRuleSet.objects.values_list("code", flat=True)) == {
        "sgcc-2011",
        "sgcc-2023",
        "csg",
    }
    replies = {
        rule.customer_class: rule.amount
        for rule in sgcc_2011().rules.filter(commitment=Commitment.SUPPLY_PLAN_REPLY)
    }
    assert replies == {"residential": 3, "lv_business": 7, "hv_single": 15, "hv_dual": 30}


def test_a_class_of_its_own_wins_over_the_rule_for_every_class():
    residential = rule_for(
        commitment=Commitment.ENERGISING, customer_class="residential", rule_set=sgcc_2011()
    )
    business = rule_for(
        commitment=Commitment.ENERGISING, customer_class="hv_single", rule_set=sgcc_2011()
    )

    assert (residential.amount, business.amount) == (3, 5)


def test_the_set_in_use_is_the_setting_or_else_the_newest_in_force(settings):
    settings.COMMITMENT_RULE_SET = "csg"
    assert rule_set_in_use().code == "csg"
    assert rule_for(commitment=Commitment.METER_TEST) is None  # China Southern Grid: no figure

    settings.COMMITMENT_RULE_SET = ""
    assert rule_set_in_use().code == "sgcc-2023"
    assert rule_for(commitment=Commitment.METER_TEST).amount == 5


def test_working_days_skip_spring_festival_and_end_at_midnight():
    reply = rule_for(
        commitment=Commitment.SUPPLY_PLAN_REPLY, customer_class="residential", rule_set=sgcc_2011()
    )

    # Friday 13 February 2026: Saturday 14 is worked (调休), 15 to 23 February are the holiday,
    # 24 and 25 count: due by the end of Wednesday 25 February.
    assert deadline(rule=reply, start=beijing(2026, 2, 13, 16, 40)) == beijing(2026, 2, 26)


def test_hours_and_minutes_run_across_midnight_and_new_year():
    csg = CommitmentRuleSet.objects.get(code="csg")
    reconnection = rule_for(commitment=Commitment.RECONNECTION, rule_set=csg)
    arrival = rule_for(commitment=Commitment.FAULT_ARRIVAL_URBAN, rule_set=sgcc_2011())

    assert deadline(rule=reconnection, start=beijing(2026, 12, 31, 23, 30)) == beijing(
        2027, 1, 1, 11, 30
    )
    assert deadline(rule=arrival, start=beijing(2026, 12, 31, 23, 50)) == beijing(2027, 1, 1, 0, 35)


def test_calendar_days_count_every_day():
    notice = rule_for(commitment=Commitment.PLANNED_OUTAGE_NOTICE, rule_set=sgcc_2011())

    assert deadline(rule=notice, start=beijing(2026, 12, 28, 9)) == beijing(2027, 1, 5)
