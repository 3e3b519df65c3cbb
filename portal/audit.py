"""PLACEHOLDER: the audit log is being written (see tests/portal/test_audit.py)."""


def audit_record(*, action, actor=None, obj=None, data=None, actor_role=None):
    return None


def audit_events_by(*, user):
    return []
