from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "sandbox_project"
    label = "sandbox_project"
    verbose_name = "Sandbox"
    default_auto_field = "django.db.models.BigAutoField"
