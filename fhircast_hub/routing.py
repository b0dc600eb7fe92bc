"""WebSocket routes: include in the project's ProtocolTypeRouter (see docs/fhircast_hub.md)."""

from django.urls import path

from .consumers import HubConsumer


websocket_urlpatterns = [
    path("hub/ws/<str:endpoint>", HubConsumer.as_asgi(), name="fhircast-websocket"),
]
