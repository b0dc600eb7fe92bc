from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SmartAuthConfig(AppConfig):
    name = "smart_auth"
    label = "smart_auth"
    verbose_name = _("SMART authorization server")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
