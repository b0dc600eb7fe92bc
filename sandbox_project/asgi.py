"""ASGI entry point of every sandbox role.

HTTP runs Django's WSGI handler in a fixed thread pool through :mod:`fhircast_hub.wsgi_bridge`
(one handoff to a thread per request; why not a2wsgi or Django's ASGI handler: that module's
documentation). Threads, not the event loop, so that a deployment can answer a call its own
in-flight request is waiting for (the EHR's patient resolver asks the imaging server, which asks
the EHR's introspection endpoint). On the EHR, WebSockets go to the hub's Channels consumers on
the same port (:func:`fhircast_hub.asgi.asgi_application`, what the README gives vendors).

Environment: ``SANDBOX_WSGI_THREADS`` (threads per worker process, default 2; ``sandbox
--workers N`` on SQLite sets 1; spare threads serve requests that would otherwise stall) and
``SANDBOX_MAX_BODY_BYTES`` (larger request bodies get 413 before Django is called; default
:func:`fhircast_hub.asgi.max_body_bytes`, above the apps' own limits so their 413 answers stay
theirs).
"""

import os

import django


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox_project.settings.ehr")
django.setup()


def build_application():
    from django.apps import apps
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.wsgi import get_wsgi_application

    from fhircast_hub.asgi import asgi_application, max_body_bytes
    from fhircast_hub.wsgi_bridge import DEFAULT_THREADS, WSGIBridge

    threads = int(os.environ.get("SANDBOX_WSGI_THREADS") or DEFAULT_THREADS)
    limit = int(os.environ.get("SANDBOX_MAX_BODY_BYTES") or 0) or max_body_bytes()
    # The sandbox serves its own static files (the SMART style, the admin's CSS), DEBUG or not.
    wsgi = StaticFilesHandler(get_wsgi_application())
    if apps.is_installed("fhircast_hub"):
        return asgi_application(wsgi, threads=threads, body_limit=limit)
    return WSGIBridge(wsgi, threads=threads, max_body_bytes=limit)


application = build_application()
