"""The baseline of benchmarks/fhircast_hub.py: a minimal Channels consumer that only relays.

WebSocket ``/relay/<topic>`` joins a group per topic; ``POST /publish/<topic>`` does one
group_send of the body. No auth, no validation, no state: the floor a hub cannot beat.
Run: ``uvicorn --app-dir benchmarks fhircast_relay:application`` with FHIRCAST_LIVE_REDIS set.
"""

import hashlib
import os

import django
from django.conf import settings


REDIS_URL = os.environ.get("FHIRCAST_LIVE_REDIS", "redis://127.0.0.1:6379/0")

if not settings.configured:
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                    "prefix": os.environ.get("FHIRCAST_LIVE_PREFIX", "fhircast-relay"),
                    "capacity": 1000,
                },
            }
        },
    )
    django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


def group(topic):
    return "relay." + hashlib.sha256(topic.encode()).hexdigest()[:40]


class RelayConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.groups.append(group(self.scope["url_route"]["kwargs"]["topic"]))
        await self.channel_layer.group_add(self.groups[0], self.channel_name)
        await self.accept()

    async def relay_frame(self, message):
        await self.send(text_data=message["text"])


async def publish(scope, receive, send):
    """Raw ASGI HTTP: POST /publish/<topic> → one group_send → 202."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    topic = scope["path"].rsplit("/", 1)[-1]
    await get_channel_layer().group_send(group(topic), {"type": "relay.frame", "text": body.decode()})
    await send({"type": "http.response.start", "status": 202, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b""})


application = ProtocolTypeRouter(
    {"http": publish, "websocket": URLRouter([path("relay/<str:topic>", RelayConsumer.as_asgi())])}
)
