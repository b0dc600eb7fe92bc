"""ASGI entry point of every sandbox deployment (the settings module names the role)."""

import os

from django.core.asgi import get_asgi_application


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox_project.settings.ehr")
django_application = get_asgi_application()

from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402


application = ASGIStaticFilesHandler(django_application) if settings.DEBUG else django_application
