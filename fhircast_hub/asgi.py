"""The ASGI application of a deployment that hosts the hub: HTTP and the hub's WebSockets on one
port, served the way the project measured it (README, "Serving").

    # myproject/asgi.py
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
    django.setup()

    from fhircast_hub.asgi import asgi_application  # noqa: E402

    application = asgi_application()

HTTP goes to Django's WSGI handler through :class:`fhircast_hub.wsgi_bridge.WSGIBridge` (a fixed
thread pool, one handoff per request; Django's own ASGI handler costs about six times the CPU per
request, see that module), WebSockets to the hub's Channels consumers.
"""

from .wsgi_bridge import DEFAULT_MAX_BODY_BYTES, DEFAULT_THREADS, WSGIBridge


def max_body_bytes():
    """Above every installed app's own request-body limit, so that their 413 answers stay theirs:
    10 MB, or twice the largest ``MAX_BODY_BYTES`` of smart_fhir and fhircast_hub."""
    from django.apps import apps

    from .conf import hub_settings

    limits = [DEFAULT_MAX_BODY_BYTES, 2 * hub_settings.MAX_BODY_BYTES]
    if apps.is_installed("smart_fhir"):
        from smart_fhir.conf import fhir_settings

        limits.append(2 * fhir_settings.MAX_BODY_BYTES)
    return max(limits)


def asgi_application(wsgi_application=None, threads=DEFAULT_THREADS, body_limit=None):
    """``ProtocolTypeRouter``: ``http`` to ``wsgi_application`` (default: Django's) through the
    bridge (``threads`` per process; bodies over ``body_limit`` bytes get 413, default
    :func:`max_body_bytes`), ``websocket`` to the hub. Call after ``django.setup()``."""
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.core.wsgi import get_wsgi_application

    from .routing import websocket_urlpatterns

    limit = body_limit if body_limit is not None else max_body_bytes()
    http = WSGIBridge(wsgi_application or get_wsgi_application(), threads=threads, max_body_bytes=limit)
    return ProtocolTypeRouter({"http": http, "websocket": URLRouter(websocket_urlpatterns)})
