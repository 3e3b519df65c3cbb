"""The domain's exceptions. Services raise them; views turn each into what the customer sees.

An anticipated failure carries a message fit to show (translated, revealing nothing it should
not); anything else is a bug or a provider failure and gets the generic error page.
"""

from django.utils.translation import gettext_lazy as _


class PowerhallError(Exception):
    """Base of every anticipated failure. ``message`` is safe to show the person who asked."""

    default_message = _("The request could not be completed.")

    def __init__(self, message=None):
        self.message = message or self.default_message
        super().__init__(str(self.message))


class RateLimited(PowerhallError):
    default_message = _("Too many attempts. Please wait a while and try again.")


class NotAllowed(PowerhallError):
    """The person may see the object but not do this to it."""

    default_message = _("You are not allowed to do that.")


class BindingRefused(PowerhallError):
    """Deliberately one message for every reason (unknown number, wrong proof, expired code), so
    that nothing reveals whether an account number exists."""

    default_message = _(
        "The account number and the proof do not match our records. Check them and try again."
    )


class InvalidInput(PowerhallError):
    default_message = _("Please correct the input and try again.")
