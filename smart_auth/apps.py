from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SmartAuthConfig(AppConfig):
    name = "smart_auth"
    label = "smart_auth"
    verbose_name = _("SMART authorization server")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        from . import checks  # noqa: F401  (registers the system checks)
        from .client_registry import clear

        # flush (test runs) empties the registry's counter table: forget what was kept.
        post_migrate.connect(clear, dispatch_uid="smart_auth.client_registry.clear")
