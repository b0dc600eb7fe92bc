from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from oauth2_provider.models import get_application_model

from smart_auth.launch import create_launch, launch_url
from smart_auth.resources import governed


class Command(BaseCommand):
    help = "Mint an EHR launch and print the app's launch URL (with iss and launch)."

    def add_arguments(self, parser):
        parser.add_argument("--client", required=True, help="client_id")
        parser.add_argument("--user", required=True, help="username of the launching user")
        parser.add_argument("--patient", required=True)
        parser.add_argument("--encounter", default="")
        parser.add_argument("--iss", default=None, help="FHIR base URL (default: the first governed one)")

    def handle(self, *args, **options):
        application = get_application_model().objects.filter(client_id=options["client"]).first()
        if application is None or not hasattr(application, "smart") or not application.smart.launch_uri:
            raise CommandError(f"No SMART client {options['client']!r} with a launch URL")
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user {options['user']!r}")
        launch = create_launch(
            application, user=user, patient=options["patient"], encounter=options["encounter"]
        )
        iss = options["iss"] or next(iter(governed()), "")
        self.stdout.write(launch_url(launch, iss))
