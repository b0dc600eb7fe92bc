"""The hub's public URLs (hub.url and WebSocket endpoints)."""

from urllib.parse import urlsplit, urlunsplit

from django.urls import reverse

from .conf import hub_settings


def hub_url(request=None, base=None):
    if hub_settings.HUB_URL:
        return hub_settings.HUB_URL.rstrip("/")
    path = reverse("fhircast_hub:hub").rstrip("/")
    if request is not None:
        return request.build_absolute_uri(path)
    return (base or "").rstrip("/") + path


def websocket_url(endpoint, request=None):
    if hub_settings.WEBSOCKET_URL:
        return f"{hub_settings.WEBSOCKET_URL.rstrip('/')}/{endpoint}"
    parts = urlsplit(hub_url(request))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, f"{parts.path}/ws/{endpoint}", "", ""))
