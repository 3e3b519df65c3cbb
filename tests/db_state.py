"""What the database holds, row by row, to show that a refused request changed nothing."""

from django.apps import apps

# Written by any request of a signed-in person, whatever it asks (the session and allauth's
# list of sessions), or the record of a refusal itself (the audit log notes refused attempts):
# a refused request may touch these without having changed anything.
NOT_COMPARED = frozenset(
    {
        "sessions.session",
        "usersessions.usersession",
        "portal.auditevent",
        "portal.auditchainhead",
    }
)


def database_state() -> dict[str, list[tuple]]:
    """Every row of every table of ours and the frameworks', by model, in primary-key order."""
    state = {}
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.label_lower in NOT_COMPARED or meta.proxy or not meta.managed:
            continue
        state[meta.label_lower] = list(model._base_manager.order_by("pk").values_list())
    return state


def tables_changed(before: dict, after: dict | None = None) -> list[str]:
    """The models whose rows differ between ``before`` and ``after`` (now, if not given)."""
    after = database_state() if after is None else after
    return sorted(
        label for label in before.keys() | after.keys() if before.get(label) != after.get(label)
    )
