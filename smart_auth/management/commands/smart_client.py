import argparse
import json
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from smart_auth.registration import FIELDS, client_metadata, dumps, register_client


EPILOG = (
    "Metadata fields (a JSON object on stdin; any other field is an error):\n"
    + "\n".join(f"  {name:27} {meaning}" for name, meaning in FIELDS.items())
    + '\n\nExample:\n  echo \'{"client_name": "My app", "redirect_uris": ["https://app.example/cb"], '
    '"scope": "openid fhirUser launch/patient patient/*.rs"}\' | python manage.py smart_client register'
)


class Command(BaseCommand):
    help = (
        "Register a SMART client from RFC 7591 metadata (JSON on stdin); prints the client as JSON "
        "(client_secret only when one was generated)."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.epilog = EPILOG
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        return parser

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
