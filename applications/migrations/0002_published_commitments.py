"""The published commitment sets of DOMAIN.md: State Grid 2011 and 2023, and China Southern
Grid's figures. The exact effective dates were not retrieved: the sets start on 1 January of the
year they were published, and their ``source`` says so. Staff correct them in the back office."""

from datetime import date

from django.db import migrations

WD, DAYS, HOURS, MINUTES = "working_days", "calendar_days", "hours", "minutes"
RES, LV, HV1, HV2 = "residential", "lv_business", "hv_single", "hv_dual"
INTERNAL = "State Grid's internal stage limit for high voltage"

SETS = [
    (
        "sgcc-2011",
        "国家电网公司 State Grid",
        "供电服务承诺（2011 年版）",
        date(2011, 1, 1),
        "State Grid's published service commitments, 2011 (DOMAIN.md); effective date to check",
        [
            ("supply_plan_reply", RES, 3, WD, ""),
            ("supply_plan_reply", LV, 7, WD, ""),
            ("supply_plan_reply", HV1, 15, WD, ""),
            ("supply_plan_reply", HV2, 30, WD, ""),
            ("energising", RES, 3, WD, ""),
            ("energising", "", 5, WD, ""),
            ("planned_outage_notice", "", 7, DAYS, ""),
            ("disconnection_notice", "", 7, DAYS, "written notice before disconnection for arrears"),
            ("reconnection", "", 24, HOURS, "after the arrears are paid"),
            ("meter_test", "", 5, WD, ""),
            ("disputed_reading", "", 7, WD, ""),
            ("complaint_contact", "", 1, WD, ""),
            ("complaint_answer", "", 7, WD, ""),
            ("fault_arrival_urban", "", 45, MINUTES, ""),
            ("fault_arrival_rural", "", 90, MINUTES, ""),
            ("fault_arrival_remote", "", 120, MINUTES, ""),
        ],
    ),
    (
        "sgcc-2023",
        "国家电网公司 State Grid",
        "供电服务承诺（2023 年版）",
        date(2023, 1, 1),
        "State Grid's published service commitments, 2023 (DOMAIN.md); effective date to check",
        [
            ("new_connection", RES, 5, WD, "the company's own stages added up"),
            ("new_connection", LV, 6, WD, "the company's own stages added up"),
            ("new_connection", HV1, 22, WD, "the company's own stages added up"),
            ("new_connection", HV2, 32, WD, "the company's own stages added up"),
            *(
                (commitment, cls, amount, WD, INTERNAL)
                for commitment, amount in (
                    ("design_review", 10),
                    ("mid_inspection", 5),
                    ("completion_inspection", 5),
                    ("energising", 5),
                )
                for cls in (HV1, HV2)
            ),
            ("planned_outage_notice", "", 7, DAYS, ""),
            ("temporary_maintenance_notice", "", 24, HOURS, "important customers"),
            ("meter_test", "", 5, WD, ""),
            ("disputed_reading", "", 5, WD, ""),
            ("fault_arrival_urban", "", 45, MINUTES, "on average"),
            ("fault_arrival_rural", "", 90, MINUTES, "on average"),
            ("fault_arrival_remote", "", 120, MINUTES, "on average"),
            ("fault_restoration_urban", "", 3, HOURS, "on average"),
            ("fault_restoration_rural", "", 4, HOURS, "on average"),
        ],
    ),
    (
        "csg",
        "中国南方电网 China Southern Grid",
        "供电服务承诺（南方电网）",
        date(2021, 1, 1),
        "China Southern Grid's published figures (DOMAIN.md); year and date to check",
        [
            ("supply_plan_reply", RES, 2, WD, ""),
            ("supply_plan_reply", LV, 5, WD, ""),
            ("reconnection", "", 12, HOURS, "after the arrears are paid"),
        ],
    ),
]


def load(apps, schema_editor):
    RuleSet = apps.get_model("applications", "CommitmentRuleSet")
    Rule = apps.get_model("applications", "CommitmentRule")
    for code, company, name, effective_from, source, rules in SETS:
        rule_set, created = RuleSet.objects.get_or_create(
            code=code,
            defaults={
                "company": company,
                "name": name,
                "effective_from": effective_from,
                "source": source,
            },
        )
        if created:
            Rule.objects.bulk_create(
                Rule(
                    rule_set=rule_set,
                    commitment=commitment,
                    customer_class=cls,
                    amount=amount,
                    unit=unit,
                    note=note,
                )
                for commitment, cls, amount, unit, note in rules
            )


class Migration(migrations.Migration):
    dependencies = [("applications", "0001_commitments")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
