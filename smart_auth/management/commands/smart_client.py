import json
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from smart_auth.registration import client_metadata, dumps, register_client


class Command(BaseCommand):
    help = "Register a SMART client from RFC 7591 metadata (JSON on stdin); prints the client as JSON."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["register"])

    def handle(self, *args, **options):
        try:
            metadata = json.load(sys.stdin)
        except ValueError as exc:
            raise CommandError(f"stdin is not JSON: {exc}") from exc
        try:
            application, secret = register_client(metadata)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(dumps(client_metadata(application, secret)))
