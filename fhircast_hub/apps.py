from django.apps import AppConfig


class FhircastHubConfig(AppConfig):
    name = "fhircast_hub"
    label = "fhircast_hub"
    verbose_name = "FHIRcast hub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks, receivers  # noqa: F401  (checks: registers the system checks)

        receivers.connect()
