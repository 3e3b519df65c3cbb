"""The portal's staff roles, as Django groups (so an operator can see and change them).

"Editors" is Wagtail's own group (content); "Service staff" works applications and payments.
Customers and business users have no group: what they may see follows from their accounts and
organisations.
"""

from django.contrib.auth.models import Group, Permission

EDITORS = "Editors"
SERVICE_STAFF = "Service staff"

# Tariffs and penalty rules are published prices: service staff maintain them in the admin.
# They also see online payments and refund them (with a reason, audited; docs/payments.md).
STAFF_MODEL_PERMISSIONS = {
    SERVICE_STAFF: [
        *(
            ("payments", f"{action}_{model}")
            for model in ("tariff", "tariffversion", "penaltyrule")
            for action in ("add", "change", "delete", "view")
        ),
        ("payments", "view_paymentattempt"),
        ("payments", "refund_paymentattempt"),
        # The working-day calendar and the service commitments the clocks count in.
        *(("portal", f"{action}_calendarday") for action in ("add", "change", "delete", "view")),
        *(
            ("applications", f"{action}_commitmentruleset")
            for action in ("add", "change", "delete", "view")
        ),
        # What a scheduled job skipped and kept for a person (docs/operations.md).
        ("portal", "view_jobproblem"),
        # The application queue: reading cases, and working them.
        ("applications", "view_case"),
        ("applications", "work_case"),
        ("applications", "view_dashboard"),  # the manager's dashboard (quality)
        # The kinds of application: opened or closed, and their versions' steps and documents
        # (nobody adds or deletes a kind in the back office).
        *(("applications", f"{action}_applicationkind") for action in ("change", "view")),
        *(
            ("applications", f"{action}_kindversion")
            for action in ("add", "change", "delete", "view")
        ),
    ],
}


def roles_ensure() -> dict[str, Group]:
    """Create the staff groups with back-office access if they are missing (idempotent)."""
    access_admin = Permission.objects.get(
        content_type__app_label="wagtailadmin", codename="access_admin"
    )
    groups = {}
    for name in (EDITORS, SERVICE_STAFF):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(access_admin)
        for app_label, codename in STAFF_MODEL_PERMISSIONS.get(name, ()):
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        groups[name] = group
    return groups
