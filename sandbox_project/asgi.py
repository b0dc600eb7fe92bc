"""ASGI entry point of every sandbox role: Django for HTTP and, when fhircast_hub is installed,
the hub's WebSocket endpoints under Channels' ProtocolTypeRouter."""

import os

from django.core.asgi import get_asgi_application


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox_project.settings.ehr")
django_application = get_asgi_application()  # sets Django up before routes import models


def build_application():
    from django.apps import apps

    if not apps.is_installed("fhircast_hub"):
        return django_application
    from channels.routing import ProtocolTypeRouter, URLRouter

    from fhircast_hub.routing import websocket_urlpatterns

    return ProtocolTypeRouter({"http": django_application, "websocket": URLRouter(websocket_urlpatterns)})


application = build_application()
