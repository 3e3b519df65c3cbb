"""Create an integration client and print its bearer token, once (docs/integration.md)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from portal.core.errors import InvalidInput
from portal.integration import integration_client_create
from portal.models import IntegrationScope


class Command(BaseCommand):
    help = (
        "Create an integration client (another system calling /api/integration/v1/) and print "
        "its bearer token. The token is shown only this once; the portal keeps its hash."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who calls, e.g. 'CIS production'. Must be unique.")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            choices=IntegrationScope.values,
            required=True,
            help="A scope the client may use; repeat for several.",
        )

    def handle(self, *args, name, scopes, **options):
        try:
            client, token = integration_client_create(name=name, scopes=scopes)
        except InvalidInput as error:
            raise CommandError(str(error.message)) from None
        self.stderr.write(
            _(
                "Integration client %(name)s created with scopes %(scopes)s. Its token follows; "
                "store it now, it cannot be shown again."
            )
            % {"name": client.name, "scopes": ", ".join(client.scopes)}
        )
        # The token alone on stdout, so `TOKEN=$(manage.py integration_client_create …)` works.
        self.stdout.write(token)
