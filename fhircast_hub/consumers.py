"""The WebSocket side of the hub: one consumer per subscription endpoint (FHIRcast 2-4, 2-5).

The endpoint id in the URL is the credential. The consumer owns what only the process holding
the socket can do: the confirmation, the replay of the current context, per-subscriber event
filtering, acknowledgement time-outs and the lease timer.
"""

import asyncio
import json
import logging

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from smart_auth.strict_json import JsonRejected, loads

from . import context as ctx
from .conf import hub_settings
from .events import normalize_event_name
from .models import Subscription, endpoint_group, topic_group
from .publishing import LAYER_ATTEMPTS, adopt_server_loop, layer_call, publish_sync_error
from .subscriptions import REVOKED_REASON, grant_revoked


log = logging.getLogger(__name__)

try:
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError:  # channels_redis is optional

    class RedisTimeoutError(Exception):
        pass

NORMAL_CLOSE = (1000, 1001)


def outcome(diagnostics, code="invalid"):
    """A FHIR OperationOutcome frame answering a frame the hub cannot use."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }


def _http_status(value):
    """An acknowledgement's status as an int in 100..599 (a number or a string of digits)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    text = str(value).strip()
    if isinstance(value, float):
        text = str(int(value)) if value.is_integer() else ""
    if not (text.isdecimal() and len(text) == 3):
        return None
    return int(text) if 100 <= int(text) <= 599 else None


UNKNOWN_ENDPOINT = "Unknown, unsubscribed or expired hub.channel.endpoint."


@database_sync_to_async
def load_subscription(endpoint):
    """The live subscription of ``endpoint`` as the consumer keeps it, or the reason it has none."""
    subscription = Subscription.objects.live().select_related("topic").filter(endpoint=endpoint).first()
    if subscription is None:
        return UNKNOWN_ENDPOINT
    if grant_revoked(subscription):
        subscription.active = False
        subscription.save(update_fields=["active"])
        return REVOKED_REASON
    topic = subscription.topic
    return {
        "topic": topic.name,
        "events": list(subscription.events),
        "name": subscription.subscriber_name,
        "lease_seconds": subscription.lease_seconds(),
        "replay": ctx.replay(topic.state or {}),
        "seq": topic.sequence,
    }


@database_sync_to_async
def topic_of(endpoint):
    return Subscription.objects.live().filter(endpoint=endpoint).values_list("topic__name", flat=True).first()


@database_sync_to_async
def lease_left(endpoint):
    subscription = Subscription.objects.live().filter(endpoint=endpoint).first()
    return subscription.lease_seconds() if subscription else 0


@database_sync_to_async
def deactivate(endpoint):
    Subscription.objects.filter(endpoint=endpoint).update(active=False)


SERVICE_RESTART = 1012  # RFC 6455: the client should reconnect


class HubConsumer(AsyncJsonWebsocketConsumer):
    pending = None  # event id -> (event name, timer), per instance once connected
    lease_timer = None
    subscription = None

    @property
    def channel_layer_alias(self):
        return hub_settings.CHANNEL_LAYER_ALIAS

    @property
    def channel_receive(self):
        return self._receive_retrying_timeouts

    @channel_receive.setter
    def channel_receive(self, receive):
        self._layer_receive = receive

    async def _receive_retrying_timeouts(self):
        # A read time-out of the blocking pop is not a lost connection: poll again.
        for attempt in range(1, LAYER_ATTEMPTS + 1):
            try:
                return await self._layer_receive()
            except (TimeoutError, RedisTimeoutError):
                if attempt == LAYER_ATTEMPTS:
                    raise

    async def dispatch(self, message):
        # Channels closes stale DB connections before every handler (a thread hop per frame).
        # Only connect touches the database directly; everything else goes through
        # database_sync_to_async, which does that itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None or message["type"] == "websocket.connect":
            return await super().dispatch(message)
        await handler(message)

    async def __call__(self, scope, receive, send):
        adopt_server_loop(asyncio.get_running_loop())  # publishes from WSGI threads use it too
        try:
            await super().__call__(scope, receive, send)
        except Exception:
            # Typically the channel layer lost Redis: this socket's group memberships may be gone,
            # so close with "service restart"; the subscriber reconnects to its endpoint and gets
            # the current context again (state lives in the database, not in the layer).
            log.warning("Closing a FHIRcast socket after a channel layer failure", exc_info=True)
            self._cancel_timers()
            try:
                await send({"type": "websocket.close", "code": SERVICE_RESTART})
            except Exception:  # the connection is already gone
                pass

    async def connect(self):
        self.endpoint = self.scope["url_route"]["kwargs"]["endpoint"]
        self.pending = {}
        if not self._origin_allowed():
            await self.close(code=4403)
            return
        await self.accept()
        # Join first, then read the state: an event accepted in between is either in the replay
        # (its sequence number is then <= self.seen) or delivered live, never lost.
        topic_name = await topic_of(self.endpoint)
        if topic_name:
            await self._join(topic_group(topic_name), endpoint_group(self.endpoint))
        subscription = await load_subscription(self.endpoint) if topic_name else UNKNOWN_ENDPOINT
        if isinstance(subscription, str):
            await self._deny("", "", subscription)
            return
        self.subscription = subscription
        self.seen = subscription["seq"]
        self._set_events(subscription["events"])
        await self.send_json(self._confirmation())
        for notification in subscription["replay"]:
            if notification["event"]["hub.event"].lower() in self.events:
                await self.send_json(notification)
        self._schedule_lease(subscription["lease_seconds"])

    async def _join(self, *groups):
        for name in groups:
            await layer_call(self.channel_layer.group_add, name, self.channel_name)
            self.groups.append(name)

    def _origin_allowed(self):
        allowed = hub_settings.WEBSOCKET_ALLOWED_ORIGINS
        if allowed is None:
            return True
        origin = dict(self.scope.get("headers", [])).get(b"origin", b"").decode("latin1")
        return "*" in allowed or origin in allowed

    def _set_events(self, events):
        self.subscription["events"] = events
        self.events = {normalize_event_name(name).lower() for name in events}

    def _confirmation(self):
        return {
            "hub.mode": "subscribe",
            "hub.topic": self.subscription["topic"],
            "hub.events": ",".join(self.subscription["events"]),
            "hub.lease_seconds": self.subscription["lease_seconds"],
        }

    async def _deny(self, topic, events, reason, code=1000):
        await self.send_json(
            {"hub.mode": "denied", "hub.topic": topic, "hub.events": events, "hub.reason": reason}
        )
        self._cancel_timers()
        self.subscription = None
        await self.close(code=code)

    # --- frames from the subscriber -----------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if self.subscription is None:
            return
        frame = self._parse_frame(text_data)
        if not isinstance(frame, dict) or not isinstance(frame.get("id"), str):
            await self.send_json(outcome('Expected a JSON acknowledgement {"id": ..., "status": ...}.'))
            return
        status = frame.get("status")
        if status is None:
            if hub_settings.ACK_STATUS_REQUIRED:
                await self.send_json(outcome("The acknowledgement has no 'status'.", code="required"))
                return
            status = 200
        status = _http_status(status)
        if status is None:
            await self.send_json(outcome(f"'status' {frame.get('status')!r:.40} is not an HTTP status code."))
            return
        pending = self.pending.pop(frame["id"], None)
        if pending is None:
            return  # a late or repeated acknowledgement: nothing left to track
        name, timer = pending
        timer.cancel()
        if status >= 400:  # FHIRcast 2-5: a refusal or failure SHALL yield a SyncError
            await self._sync_error(frame["id"], name, f"Subscriber answered {status} to {name}.")

    @staticmethod
    def _parse_frame(text_data):
        """The frame as JSON within the hub's limits, else None (answered with an outcome)."""
        if text_data is None or len(text_data) > hub_settings.MAX_BODY_BYTES:
            return None
        try:
            return loads(text_data, hub_settings.MAX_JSON_DEPTH)
        except JsonRejected:
            return None

    # --- messages from the channel layer ------------------------------------------------------
    async def fhircast_event(self, message):
        if self.subscription is None or message["seq"] <= self.seen:
            return
        self.seen = message["seq"]
        if message["event"] not in self.events or message.get("exclude") == self.endpoint:
            return
        text, event_id, name = message.get("text"), message.get("id"), message.get("name")
        if text is None:  # from a hub process of the previous version (a rolling upgrade)
            notification = message["notification"]
            text, event_id = json.dumps(notification), notification["id"]
            name = notification["event"]["hub.event"]
        await self.send(text_data=text)  # encoded once by the publisher, not per subscriber
        self.last_event = (event_id, name)
        if message["event"] != "syncerror":
            timer = asyncio.get_running_loop().call_later(
                hub_settings.ACK_TIMEOUT_SECONDS, self._on_ack_timeout, event_id
            )
            self.pending[event_id] = (name, timer)

    async def fhircast_resubscribe(self, message):
        if self.subscription is None:
            return
        self._set_events(message["events"])
        self.subscription["lease_seconds"] = message["lease_seconds"]
        self._schedule_lease(message["lease_seconds"])
        await self.send_json(self._confirmation())

    async def fhircast_unsubscribe(self, message):
        if self.subscription is not None:
            sub = self.subscription
            await self._deny(sub["topic"], ",".join(sub["events"]), message.get("reason", "unsubscribed"))

    async def fhircast_deny(self, message):
        await self.fhircast_unsubscribe(message)

    # --- timers -------------------------------------------------------------------------------
    def _on_ack_timeout(self, event_id):
        pending = self.pending.pop(event_id, None)
        if pending is not None and self.subscription is not None:
            asyncio.ensure_future(self._unresponsive(event_id, pending[0]))

    async def _unresponsive(self, event_id, name):
        seconds = hub_settings.ACK_TIMEOUT_SECONDS
        await self._sync_error(event_id, name, f"Subscriber did not acknowledge {name} within {seconds} s.")
        if hub_settings.UNSUBSCRIBE_UNRESPONSIVE and self.subscription is not None:
            # FHIRcast 2-5: the Hub SHALL unsubscribe a Subscriber that does not respond.
            await deactivate(self.endpoint)
            sub = self.subscription
            await self._deny(sub["topic"], ",".join(sub["events"]), "Unsubscribed: no acknowledgement.")

    async def _sync_error(self, event_id, name, diagnostics, subscription=None):
        subscription = subscription or self.subscription
        await database_sync_to_async(publish_sync_error)(
            subscription["topic"],
            self.endpoint,
            event_id=event_id,
            event_name=name,
            subscriber_name=subscription["name"],
            diagnostics=diagnostics,
        )

    def _schedule_lease(self, seconds):
        if self.lease_timer is not None:
            self.lease_timer.cancel()
        self.lease_timer = asyncio.get_running_loop().call_later(
            max(seconds, 0.05), lambda: asyncio.ensure_future(self._lease_check())
        )

    async def _lease_check(self):
        if self.subscription is None:
            return
        left = await lease_left(self.endpoint)  # a re-subscribe in another process may have renewed it
        if left > 0:
            self._schedule_lease(left)
            return
        await deactivate(self.endpoint)
        sub = self.subscription
        await self._deny(sub["topic"], ",".join(sub["events"]), "The subscription lease expired.")

    def _cancel_timers(self):
        for _, timer in (self.pending or {}).values():
            timer.cancel()
        self.pending = {}
        if self.lease_timer is not None:
            self.lease_timer.cancel()
            self.lease_timer = None

    async def disconnect(self, code):
        subscription, last = self.subscription, getattr(self, "last_event", None)
        self._cancel_timers()
        if subscription is not None and code not in NORMAL_CLOSE and last is not None:
            # FHIRcast 2-5: MAY report an abnormal close; SHALL NOT for 1000/1001.
            diagnostics = f"Subscriber connection closed abnormally ({code})."
            await self._sync_error(*last, diagnostics, subscription=subscription)
        self.subscription = None
