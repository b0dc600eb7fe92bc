"""ASGI entry point of every sandbox role: Django for HTTP and, when fhircast_hub is installed,
the hub's WebSocket endpoints under Channels' ProtocolTypeRouter."""

import os

from django.core.asgi import get_asgi_application


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox_project.settings.ehr")
django_application = get_asgi_application()  # sets Django up before routes import models


def build_application():
    from django.apps import apps
    from django.conf import settings
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    http = ASGIStaticFilesHandler(django_application) if settings.DEBUG else django_application
    if not apps.is_installed("fhircast_hub"):
        return http
    from channels.routing import ProtocolTypeRouter, URLRouter

    from fhircast_hub.routing import websocket_urlpatterns

    return ProtocolTypeRouter({"http": http, "websocket": URLRouter(websocket_urlpatterns)})


application = build_application()
