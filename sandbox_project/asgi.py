"""ASGI entry point of every sandbox role.

HTTP runs Django's WSGI handler in a thread pool (a2wsgi): Django under its ASGI handler runs
every synchronous view in one shared thread, so a deployment could not answer a call that its
own in-flight request is waiting for (the EHR's patient resolver asks the imaging server, which
asks the EHR's introspection endpoint). WebSockets, when fhircast_hub is installed, go to the
hub's Channels consumers.
"""

import os

import django


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox_project.settings.ehr")
django.setup()


def build_application():
    from a2wsgi import WSGIMiddleware
    from django.apps import apps
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.wsgi import get_wsgi_application

    wsgi = get_wsgi_application()
    # The sandbox serves its own static files (the SMART style, the admin's CSS), DEBUG or not.
    http = WSGIMiddleware(StaticFilesHandler(wsgi), workers=16)
    if not apps.is_installed("fhircast_hub"):
        return http
    from channels.routing import ProtocolTypeRouter, URLRouter

    from fhircast_hub.routing import websocket_urlpatterns

    return ProtocolTypeRouter({"http": http, "websocket": URLRouter(websocket_urlpatterns)})


application = build_application()
