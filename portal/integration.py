"""Integration clients: other systems (the billing system) that call the integration API.

A client authenticates with a bearer token ``phk_<prefix>_<secret>``, shown once when staff
create the client and never stored: the portal keeps its SHA-256 and the prefix, which finds the
row without comparing against every client. The secret carries 256 random bits, so a fast hash
is enough (there is nothing to brute-force, unlike a password), and the comparison is done in
constant time. Creation and revocation are audited (docs/integration.md).
"""

import hashlib
import hmac
import secrets

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from .core import clock
from .core.audit import audit_record
from .core.errors import InvalidInput
from .models import IntegrationClient, IntegrationScope, User

TOKEN_PREFIX = "phk"  # noqa: S105  (a fixed label that starts every token, not a secret)  # nosec
_PREFIX_BYTES = 6  # 12 hex characters: unique enough to find the row, and no "_" in it
_SECRET_BYTES = 32


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    prefix = secrets.token_hex(_PREFIX_BYTES)
    return prefix, f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"


def integration_client_create(
    *, name: str, scopes: list[str], created_by: User | None = None
) -> tuple[IntegrationClient, str]:
    """Create a client and return it with its token, which exists nowhere else afterwards."""
    name = (name or "").strip()
    if not name or len(name) > IntegrationClient._meta.get_field("name").max_length:
        raise InvalidInput(_("Give the client a name of 1 to 100 characters."))
    unknown = sorted(set(scopes) - set(IntegrationScope.values))
    if not scopes or unknown:
        raise InvalidInput(
            _("Choose one or more of these scopes: %(scopes)s.")
            % {"scopes": ", ".join(IntegrationScope.values)}
        )
    prefix, token = _new_token()
    try:
        with transaction.atomic():
            client = IntegrationClient.objects.create(
                name=name,
                token_prefix=prefix,
                token_hash=_token_hash(token),
                scopes=sorted(set(scopes)),
                created_by=created_by,
            )
            audit_record(
                action="integration.client_created",
                actor=created_by,
                obj=client,
                data={"name": name, "scopes": client.scopes, "token_prefix": prefix},
            )
    except IntegrityError:
        raise InvalidInput(
            _("An integration client named %(name)s already exists.") % {"name": name}
        ) from None
    return client, token


def integration_client_revoke(
    *, client: IntegrationClient, revoked_by: User | None = None
) -> IntegrationClient:
    """Revoke a client's token for good; revoking it again changes nothing."""
    with transaction.atomic():
        client = IntegrationClient.objects.select_for_update().get(pk=client.pk)
        if client.revoked_at is not None:
            return client
        client.revoked_at = clock.now()
        client.save(update_fields=["revoked_at"])
        audit_record(
            action="integration.client_revoked",
            actor=revoked_by,
            obj=client,
            data={"name": client.name, "token_prefix": client.token_prefix},
        )
    return client


def integration_client_authenticate(*, token: str) -> IntegrationClient | None:
    """The active client whose token this is, or None; records the use (``last_used_at``)."""
    marker, _sep, rest = (token or "").strip().partition("_")
    prefix, _sep, secret = rest.partition("_")
    if marker != TOKEN_PREFIX or not prefix or not secret:
        return None
    client = IntegrationClient.objects.filter(token_prefix=prefix).first()
    # Compare even when no row matched, so an unknown prefix takes as long as a wrong secret.
    expected = client.token_hash if client is not None else _token_hash("")
    if not hmac.compare_digest(_token_hash(token.strip()), expected) or client is None:
        return None
    if client.revoked_at is not None:
        return None
    client.last_used_at = clock.now()
    IntegrationClient.objects.filter(pk=client.pk).update(last_used_at=client.last_used_at)
    return client
