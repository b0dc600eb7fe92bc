from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from smart_auth.models import SmartUser


class Command(BaseCommand):
    help = (
        "Set the FHIR resource a user is (fhirUser: Practitioner/…, Patient/…), stored in SmartUser. "
        "A user without one picks no patient (fail closed); a SMART_AUTH['FHIR_USER'] hook can "
        "derive it from your own models instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("fhir_user", nargs="?", help="e.g. Practitioner/123 (omit with --clear)")
        parser.add_argument("--clear", action="store_true", help="remove the user's fhirUser")

    def handle(self, *args, username, fhir_user, clear, **options):
        user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        if clear:
            SmartUser.objects.filter(user=user).delete()
            self.stdout.write(f"{username}: no fhirUser")
            return
        kind, _, ident = (fhir_user or "").partition("/")
        if not (kind[:1].isupper() and kind.isalpha() and ident) or len(fhir_user) > 255:
            raise CommandError("fhir_user must be a relative reference such as Practitioner/123")
        SmartUser.objects.update_or_create(user=user, defaults={"fhir_user": fhir_user})
        self.stdout.write(f"{username}: fhirUser {fhir_user}")
