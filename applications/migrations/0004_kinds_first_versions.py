"""The first version of every kind of application: its steps in order (with the customer classes a
step is for and the commitment whose clock runs at it) and the documents it asks for (DOMAIN.md:
new connection and other applications). Staff add later versions in the back office."""

from django.db import migrations

RES, LV, HV1, HV2 = "residential", "lv_business", "hv_single", "hv_dual"
BUSINESS = [LV, HV1, HV2]
HV = [HV1, HV2]
ALL: list[str] = []

CONNECTION_STEPS = [
    ("accepted", ALL, ""),
    ("site_survey", ALL, ""),
    ("supply_plan_reply", ALL, "supply_plan_reply"),
    ("design_review", HV, "design_review"),
    ("mid_inspection", HV, "mid_inspection"),
    ("completion_inspection", ALL, "completion_inspection"),
    ("contract_signed", ALL, ""),
    ("energised", ALL, "energising"),
    ("archived", ALL, ""),
]
# (document, classes, required)
CONNECTION_DOCUMENTS = [
    ("identity", ALL, True),
    ("property_proof", ALL, True),
    ("business_licence", BUSINESS, True),
    ("load_list", BUSINESS, True),
    ("site_plan", HV, True),
    ("authorisation", ALL, False),
]
KINDS = {
    "new_connection": (CONNECTION_STEPS, CONNECTION_DOCUMENTS),
    "capacity_increase": (
        CONNECTION_STEPS,
        [
            ("identity", ALL, True),
            ("business_licence", BUSINESS, True),
            ("load_list", BUSINESS, True),
            ("site_plan", HV, True),
            ("authorisation", ALL, False),
        ],
    ),
    "capacity_decrease": (
        [("accepted", ALL, ""), ("site_survey", ALL, ""), ("contract_signed", ALL, ""),
         ("archived", ALL, "")],
        [("identity", ALL, True), ("business_licence", BUSINESS, True),
         ("authorisation", ALL, False)],
    ),
    "transfer": (
        [("accepted", ALL, ""), ("handling", ALL, ""), ("contract_signed", ALL, ""),
         ("archived", ALL, "")],
        [("identity", ALL, True), ("new_holder_identity", ALL, True),
         ("property_proof", ALL, True), ("settlement_proof", ALL, True),
         ("business_licence", BUSINESS, True), ("authorisation", ALL, False)],
    ),
    "suspension": (
        [("accepted", ALL, ""), ("handling", ALL, ""), ("archived", ALL, "")],
        [("identity", ALL, True), ("business_licence", BUSINESS, True),
         ("authorisation", ALL, False)],
    ),
    "closing": (
        [("accepted", ALL, ""), ("handling", ALL, ""), ("archived", ALL, "")],
        [("identity", ALL, True), ("settlement_proof", ALL, True), ("authorisation", ALL, False)],
    ),
    "meter_test": (
        [("accepted", ALL, ""), ("testing", ALL, "meter_test"), ("answered", ALL, ""),
         ("archived", ALL, "")],
        [("identity", ALL, True)],
    ),
    "disputed_reading": (
        [("accepted", ALL, ""), ("handling", ALL, "disputed_reading"), ("answered", ALL, ""),
         ("archived", ALL, "")],
        [("identity", ALL, True)],
    ),
    "complaint": (
        [("accepted", ALL, "complaint_contact"), ("handling", ALL, "complaint_answer"),
         ("answered", ALL, ""), ("archived", ALL, "")],
        [],
    ),
    # The arrival limit depends on where the fault is (urban, rural, remote): chosen per case.
    "fault_report": (
        [("accepted", ALL, ""), ("repair", ALL, ""), ("restored", ALL, ""),
         ("archived", ALL, "")],
        [],
    ),
}


def load(apps, schema_editor):
    Kind = apps.get_model("applications", "ApplicationKind")
    Version = apps.get_model("applications", "KindVersion")
    Step = apps.get_model("applications", "KindStep")
    Document = apps.get_model("applications", "KindDocument")
    for category, (steps, documents) in KINDS.items():
        kind, created = Kind.objects.get_or_create(category=category)
        if not created:
            continue
        version = Version.objects.create(kind=kind, number=1)
        Step.objects.bulk_create(
            Step(version=version, position=position, step=step, customer_classes=classes,
                 commitment=commitment)
            for position, (step, classes, commitment) in enumerate(steps, start=1)
        )
        Document.objects.bulk_create(
            Document(version=version, document=document, customer_classes=classes,
                     required=required)
            for document, classes, required in documents
        )


class Migration(migrations.Migration):
    dependencies = [("applications", "0003_kinds")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
