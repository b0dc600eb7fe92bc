"""WSGI entry point (gunicorn ``sandbox_project.wsgi``); settings default to the EHR deployment."""

import os

from django.core.wsgi import get_wsgi_application


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox_project.settings.ehr")

application = get_wsgi_application()
