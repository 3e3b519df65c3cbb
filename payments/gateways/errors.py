"""What can go wrong at a payment gateway, in our own words: the callers of ``payments.gateways``
never see the Stripe SDK's exceptions (``stripe_api`` translates them).

Two kinds, told apart because the caller does different things with them (STYLE.md):
``GatewayUnavailable`` (the network, the provider's own error, its rate limit: the outcome is
unknown, try again later with the same idempotency key) and ``GatewayRefused`` (the provider
answered no: a declined card, a request it will never accept; retrying changes nothing).
"""

from django.utils.translation import gettext_lazy as _

from portal.core.errors import PowerhallError


class GatewayError(PowerhallError):
    """The payment gateway did not do what was asked. ``message`` is the provider's wording (for
    staff and the log); pages show the customer their own generic message."""

    default_message = _("The payment provider could not be reached. Please try again later.")

    def __init__(self, message=None, *, code: str = ""):
        super().__init__(message)
        self.code = code


class GatewayUnavailable(GatewayError):
    """No answer, or the provider failed: whether it acted is unknown."""


class GatewayRefused(GatewayError):
    """The provider answered and said no (``code``: its reason, e.g. ``card_declined``)."""


class SignatureInvalid(GatewayError):
    """A webhook whose signature does not verify (or whose body is not an event)."""


class ShapeUnusable(GatewayError):
    """The provider's data is not of a shape we can use: a field missing, a text where a whole
    number of fen belongs, an amount out of bounds. Asking again brings the same data, so it is
    kept for a person, never retried (docs/payments.md, "The webhook"). ``message`` names the
    field and what is wrong with it; ``event_id``, ``event_type`` and ``intent_id`` are what
    could be read of the event before the fault (empty when unusable themselves)."""

    def __init__(self, message, *, event_id: str = "", event_type: str = "", intent_id: str = ""):
        super().__init__(message)
        self.event_id = event_id
        self.event_type = event_type
        self.intent_id = intent_id
