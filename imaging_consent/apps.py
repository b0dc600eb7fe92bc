from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImagingConsentConfig(AppConfig):
    name = "imaging_consent"
    label = "imaging_consent"
    verbose_name = _("Imaging consent")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
