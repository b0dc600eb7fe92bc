"""ASGI entry point of every sandbox role.

HTTP runs Django's WSGI handler in a fixed thread pool through :mod:`sandbox_project.wsgi_bridge`
(one handoff to a thread per request; why not a2wsgi or Django's ASGI handler: that module's
documentation). Threads, not the event loop, so that a deployment can answer a call its own
in-flight request is waiting for (the EHR's patient resolver asks the imaging server, which asks
the EHR's introspection endpoint). WebSockets, when fhircast_hub is installed, go to the hub's
Channels consumers on the same port.

Environment: ``SANDBOX_WSGI_THREADS`` (threads per worker process, default 8) and
``SANDBOX_MAX_BODY_BYTES`` (larger request bodies get 413 before Django is called; default 10 MB,
or twice the largest ``MAX_BODY_BYTES`` of smart_fhir and fhircast_hub when that is more, so their
own 413 answers stay theirs).
"""

import os

import django


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox_project.settings.ehr")
django.setup()


def max_body_bytes():
    """The bridge's body limit: ``SANDBOX_MAX_BODY_BYTES``, or above every app's own limit."""
    if os.environ.get("SANDBOX_MAX_BODY_BYTES"):
        return int(os.environ["SANDBOX_MAX_BODY_BYTES"])
    from django.apps import apps

    from sandbox_project.wsgi_bridge import DEFAULT_MAX_BODY_BYTES

    limits = [DEFAULT_MAX_BODY_BYTES]
    if apps.is_installed("smart_fhir"):
        from smart_fhir.conf import fhir_settings

        limits.append(2 * fhir_settings.MAX_BODY_BYTES)
    if apps.is_installed("fhircast_hub"):
        from fhircast_hub.conf import hub_settings

        limits.append(2 * hub_settings.MAX_BODY_BYTES)
    return max(limits)


def build_application():
    from django.apps import apps
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.wsgi import get_wsgi_application

    from sandbox_project.wsgi_bridge import DEFAULT_THREADS, WSGIBridge

    wsgi = get_wsgi_application()
    # The sandbox serves its own static files (the SMART style, the admin's CSS), DEBUG or not.
    http = WSGIBridge(
        StaticFilesHandler(wsgi),
        threads=int(os.environ.get("SANDBOX_WSGI_THREADS") or DEFAULT_THREADS),
        max_body_bytes=max_body_bytes(),
    )
    if not apps.is_installed("fhircast_hub"):
        return http
    from channels.routing import ProtocolTypeRouter, URLRouter

    from fhircast_hub.routing import websocket_urlpatterns

    return ProtocolTypeRouter({"http": http, "websocket": URLRouter(websocket_urlpatterns)})


application = build_application()
