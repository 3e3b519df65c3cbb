"""The portal's data: people, the audit log, electricity accounts and organisations."""

from ..core.models import (
    AuditChainHead,
    AuditEvent,
    AuditEventQuerySet,
    AuditLogIsAppendOnly,
    CalendarDay,
    JobProblem,
)
from .accounts import (
    AccountStatus,
    Binding,
    BindingChallenge,
    CustomerClass,
    ProofMethod,
    ServiceAccount,
)
from .identity import User, UserManager
from .integration import IntegrationClient, IntegrationScope
from .notifications import (
    Channel,
    Notification,
    NotificationKind,
    NotificationPreference,
    NotificationStatus,
)
from .organisations import Invitation, MemberRole, MemberScope, Membership, Organisation, Scope

__all__ = [
    "AccountStatus",
    "AuditChainHead",
    "AuditEvent",
    "AuditEventQuerySet",
    "AuditLogIsAppendOnly",
    "Binding",
    "BindingChallenge",
    "CalendarDay",
    "Channel",
    "CustomerClass",
    "IntegrationClient",
    "IntegrationScope",
    "Invitation",
    "JobProblem",
    "MemberRole",
    "MemberScope",
    "Membership",
    "Notification",
    "NotificationKind",
    "NotificationPreference",
    "NotificationStatus",
    "Organisation",
    "ProofMethod",
    "Scope",
    "ServiceAccount",
    "User",
    "UserManager",
]
