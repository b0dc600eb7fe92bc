"""Fixtures of the hub tests: real tokens from smart_auth, HTTP through Django's test client,
WebSockets through Channels communicators."""

import asyncio
import json
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from fhircast_hub.routing import websocket_urlpatterns
from smart_auth.registration import register_client
from tests.conftest import FORM, TOKEN_URL, ClientKey, token_post


HUB_SCOPES = "openid fhirUser fhircast/*.read fhircast/*.write"
WAIT = 3  # seconds any single frame may take before a test fails (not a timing assertion)


@pytest.fixture(autouse=True)
def fresh_channel_layers():
    """Each test has its own event loop; layers bind queues and pools to a loop."""
    channel_layers.backends = {}
    yield
    channel_layers.backends = {}


@pytest.fixture
def session(flow, users):
    """A clinician's token response with FHIRcast scopes: access_token, hub.url, hub.topic."""
    response = flow.run(HUB_SCOPES, users["clinician"])
    assert response.status_code == 200, response.content
    return response.json()


class Hub:
    """The hub's HTTP API as a subscriber or publisher sees it."""

    def __init__(self, client, token):
        self.client = client
        self.token = token

    def headers(self, token=None):
        token = self.token if token is None else token
        return {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def subscribe(self, topic, events, token=None, form=True, **extra):
        data = {
            "hub.mode": "subscribe",
            "hub.channel.type": "websocket",
            "hub.topic": topic,
            "hub.events": events,
        }
        data.update(extra)
        data = {k: v for k, v in data.items() if v is not None}
        if form:
            return self.client.post("/hub", urlencode(data), content_type=FORM, **self.headers(token))
        return self.client.post(
            "/hub", json.dumps(data), content_type="application/json", **self.headers(token)
        )

    def unsubscribe(self, topic, endpoint, token=None):
        data = {"hub.mode": "unsubscribe", "hub.channel.type": "websocket", "hub.topic": topic}
        if endpoint:
            data["hub.channel.endpoint"] = endpoint
        return self.client.post("/hub", urlencode(data), content_type=FORM, **self.headers(token))

    def publish(self, topic, event_name, context, token=None, content_type="application/json", **fields):
        body = notification(topic, event_name, context, **fields)
        return self.client.post("/hub", json.dumps(body), content_type=content_type, **self.headers(token))

    def current(self, topic, token=None):
        return self.client.get(f"/hub/{topic}", **self.headers(token))


def notification(topic, event_name, context, **fields):
    event = {"hub.topic": topic, "hub.event": event_name, "context": context}
    event.update({k: v for k, v in fields.items() if k.startswith("context.")})
    return {
        "timestamp": fields.get("timestamp") or datetime.now(UTC).isoformat(),
        "id": fields.get("id") or uuid.uuid4().hex,
        "event": event,
    }


def patient(pid="pat-1"):
    return {"key": "patient", "resource": {"resourceType": "Patient", "id": pid}}


def report(rid="rep-1"):
    return {"key": "report", "resource": {"resourceType": "DiagnosticReport", "id": rid}}


def study(sid="st-1"):
    return {"key": "study", "resource": {"resourceType": "ImagingStudy", "id": sid}}


@pytest.fixture
def hub(client, session):
    return Hub(client, session["access_token"])


@pytest.fixture
def topic(session):
    return session["hub.topic"]


class Socket:
    """A subscriber's WebSocket (Channels communicator) with bounded waits."""

    def __init__(self, endpoint_url):
        path = "/" + endpoint_url.split("/", 3)[3]
        self.communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)

    async def open(self):
        connected, _ = await self.communicator.connect(timeout=WAIT)
        assert connected
        return self

    async def frame(self):
        return await self.communicator.receive_json_from(timeout=WAIT)

    async def silent(self, seconds=0.3):
        """True when no frame arrives within ``seconds`` (used to show that nothing comes)."""
        return await self.communicator.receive_nothing(timeout=seconds)

    async def events(self, count):
        return [await self.frame() for _ in range(count)]

    async def ack(self, event_id, status=200):
        frame = {"id": event_id} if status is None else {"id": event_id, "status": status}
        await self.communicator.send_json_to(frame)

    async def closed(self):
        output = await self.communicator.receive_output(timeout=WAIT)
        return output["type"] == "websocket.close", output

    async def close(self, code=1000):
        await self.communicator.disconnect(code=code)


async def call(function, *args, **kwargs):
    return await sync_to_async(function)(*args, **kwargs)


async def subscribed(hub, topic, events, **extra):
    """Subscribe, connect, and read the confirmation: returns (socket, endpoint, confirmation)."""
    response = await call(hub.subscribe, topic, events, **extra)
    assert response.status_code == 202, response.content
    endpoint = response.json()["hub.channel.endpoint"]
    socket = await Socket(endpoint).open()
    confirmation = await socket.frame()
    assert confirmation["hub.mode"] == "subscribe", confirmation
    return socket, endpoint, confirmation


@pytest.fixture
def backend_token(db, client):
    """A backend-services token with FHIRcast scopes (client_credentials + private_key_jwt)."""

    def make(scope="fhircast/*.read fhircast/*.write"):
        key = ClientKey("ES384")
        app, _ = register_client(
            {
                "client_name": "Hub backend",
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": key.jwks,
                "scope": scope,
            }
        )
        response = token_post(
            client,
            {
                "grant_type": "client_credentials",
                "scope": scope,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": key.assertion(app.client_id, aud=TOKEN_URL),
            },
        )
        assert response.status_code == 200, response.content
        return app.client_id, response.json()["access_token"]

    return make


__all__ = ["asyncio"]
