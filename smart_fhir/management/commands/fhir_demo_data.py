from django.core.management.base import BaseCommand

from smart_fhir.demo import ROLES, load_demo_data


class Command(BaseCommand):
    help = "Load the deterministic demo FHIR data set of the EHR or the imaging deployment (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--role", choices=ROLES, required=True)
        parser.add_argument("--patients", type=int, default=50)

    def handle(self, *args, role, patients, **options):
        written = load_demo_data(role, patients)
        total = sum(written.values())
        detail = ", ".join(f"{count} {kind}" for kind, count in sorted(written.items())) or "nothing new"
        self.stdout.write(f"{role}: {total} resources written ({detail})")
