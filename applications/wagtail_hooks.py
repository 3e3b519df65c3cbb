"""Wagtail admin (/cms-admin/commitments/) for the published service-commitment sets: service
staff correct a set's figures and dates, or add the next one, with its time limits inline. Every
create, edit and delete writes an audit record in the same transaction (docs/applications.md)."""

from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.panels import FieldPanel, FieldRowPanel, InlinePanel, ObjectList

from portal.core.wagtail_admin import AuditedModelViewSet, audited_views

from .models import CommitmentRuleSet


def _rule_set_data(rule_set: CommitmentRuleSet) -> dict:
    return {
        "code": rule_set.code,
        "company": rule_set.company,
        "name": rule_set.name,
        "effective_from": rule_set.effective_from.isoformat() if rule_set.effective_from else "",
        "rules": [
            [rule.commitment, rule.customer_class, rule.amount, rule.unit]
            for rule in rule_set.rules.all()
        ],
    }


_set_create, _set_edit, _set_delete = audited_views("commitments.set", _rule_set_data)


class CommitmentRuleSetViewSet(AuditedModelViewSet):
    model = CommitmentRuleSet
    icon = "time"
    menu_label = _("Service commitments")
    url_prefix = "commitments"
    add_to_admin_menu = True
    menu_order = 320
    add_view_class = _set_create
    edit_view_class = _set_edit
    delete_view_class = _set_delete
    list_display = ["name", "company", "code", "effective_from"]
    edit_handler = ObjectList(
        [
            FieldRowPanel([FieldPanel("code"), FieldPanel("effective_from")]),
            FieldRowPanel([FieldPanel("company"), FieldPanel("name")]),
            FieldPanel("source"),
            InlinePanel(
                "rules",
                label=_("Time limits"),
                panels=[
                    FieldRowPanel([FieldPanel("commitment"), FieldPanel("customer_class")]),
                    FieldRowPanel([FieldPanel("amount"), FieldPanel("unit")]),
                    FieldPanel("note"),
                ],
            ),
        ]
    )


@hooks.register("register_admin_viewset")
def register_commitments():
    return CommitmentRuleSetViewSet("commitments")
