"""Kinds of application as data: each kind's steps for a customer class, the moves between them,
and the documents it asks for, once and completely (一次性告知)."""

import pytest

from applications.commitments import rule_for
from applications.kinds import documents_for, kind_versions_current, step_workflow, steps_for
from applications.models import ApplicationKind, Category, CommitmentRuleSet, KindStep
from portal.core.transitions import Workflow

pytestmark = pytest.mark.django_db


def new_connection():
    return kind_versions_current()[Category.NEW_CONNECTION]


def test_every_kind_has_a_first_version_that_ends_archived():
    versions = kind_versions_current()

    assert set(versions) == set(Category.values)
    for version in versions.values():
        steps = steps_for(version=version, customer_class="residential")
        assert steps[0].step == "accepted"
        assert steps[-1].step == "archived"


def test_high_voltage_connections_have_design_review_and_mid_inspection_residential_not():
    version = new_connection()

    residential = [s.step for s in steps_for(version=version, customer_class="residential")]
    dual = [s.step for s in steps_for(version=version, customer_class="hv_dual")]

    assert residential == [
        "accepted",
        "site_survey",
        "supply_plan_reply",
        "completion_inspection",
        "contract_signed",
        "energised",
        "archived",
    ]
    assert dual[3:5] == ["design_review", "mid_inspection"]
    assert len(dual) == 9


def test_the_moves_go_one_step_forward_and_skip_what_a_class_does_not_have():
    residential = step_workflow(version=new_connection(), customer_class="residential")
    dual = step_workflow(version=new_connection(), customer_class="hv_dual")

    assert isinstance(residential, Workflow)
    assert residential.allows("accepted", "site_survey")
    assert not residential.allows("accepted", "energised")
    assert residential.allows("supply_plan_reply", "completion_inspection")
    assert not dual.allows("supply_plan_reply", "completion_inspection")
    assert dual.allows("supply_plan_reply", "design_review")
    assert residential.is_final("archived")


def test_a_business_is_told_every_document_at_once_required_first():
    version = new_connection()

    residential = [d.document for d in documents_for(version=version, customer_class="residential")]
    business = [
        (d.document, d.required)
        for d in documents_for(version=version, customer_class="lv_business")
    ]

    assert residential == ["identity", "property_proof", "authorisation"]
    assert business == [
        ("identity", True),
        ("property_proof", True),
        ("business_licence", True),
        ("load_list", True),
        ("authorisation", False),
    ]


def test_a_steps_commitment_is_one_the_published_sets_know():
    step = KindStep.objects.get(version=new_connection(), step="supply_plan_reply")

    rule = rule_for(
        commitment=step.commitment,
        customer_class="hv_single",
        rule_set=CommitmentRuleSet.objects.get(code="sgcc-2011"),
    )

    assert (rule.amount, rule.unit) == (15, "working_days")


def test_a_kind_closed_to_applications_is_not_offered():
    ApplicationKind.objects.filter(category=Category.FAULT_REPORT).update(active=False)

    assert Category.FAULT_REPORT not in kind_versions_current()
