from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SmartFhirConfig(AppConfig):
    name = "smart_fhir"
    label = "smart_fhir"
    verbose_name = _("SMART FHIR resource server")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.apps import apps

        from . import checks  # noqa: F401  (registers the system checks)

        if apps.is_installed("oauth2_provider"):
            from . import receivers

            receivers.connect()
