"""Accepting a context change and distributing it, in order, to every subscriber of the topic.

The topic row is locked while the event goes to the channel layer and the state changes, so
events of one topic leave the hub in acceptance order from any process; a per-topic sequence
number lets a consumer drop what its replay already covered.
"""

import asyncio
import json
import logging
import os
import threading
import uuid
from datetime import UTC, datetime

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from . import context as ctx
from .auth import HubHttpError, topic_for
from .conf import hub_settings
from .models import Topic


log = logging.getLogger(__name__)

EVENT_MESSAGE = "fhircast.event"
SYNC_ERROR_SYSTEM = "https://fhircast.hl7.org/events/syncerror"


def channel_layer():
    return get_channel_layer(hub_settings.CHANNEL_LAYER_ALIAS)


LAYER_ATTEMPTS = 3


async def layer_call(method, *args):
    """Call the channel layer, retrying: after a Redis restart the first use of each pooled
    connection fails once, and the client library replaces it."""
    for attempt in range(1, LAYER_ATTEMPTS + 1):
        try:
            return await method(*args)
        except Exception:
            if attempt == LAYER_ATTEMPTS:
                raise
            await asyncio.sleep(0.05 * attempt)


class _LayerLoop:
    """Where channel-layer calls made from plain threads (a WSGI bridge's worker threads,
    management commands) run: the ASGI server's own event loop once a hub consumer has run in
    this process, else one event loop per process in a daemon thread.

    ``async_to_sync`` in such a thread starts a new event loop for every call, and
    channels_redis keeps its connection pools per event loop: every publish opened (and closed)
    its own Redis connection. On the server's loop the publish shares the consumers' pool, and
    the layer's Redis round trips need no hand-over of the GIL to another thread."""

    def __init__(self):
        self.pid = None
        self.loop = None
        self.server = None  # (pid, loop) of the ASGI server, seen by the hub's consumers
        self.lock = threading.Lock()

    def adopt(self, loop):
        self.server = (os.getpid(), loop)

    def get(self):
        server = self.server
        if server is not None and server[0] == os.getpid() and server[1].is_running():
            return server[1]
        with self.lock:
            if self.loop is None or self.pid != os.getpid():  # a forked child needs its own
                self.loop = asyncio.new_event_loop()
                self.pid = os.getpid()
                threading.Thread(target=self.loop.run_forever, name="fhircast-hub-layer", daemon=True).start()
            return self.loop


_layer_loop = _LayerLoop()
adopt_server_loop = _layer_loop.adopt


def _caller_event_loop():
    """The event loop of the async code that called into this thread through sync_to_async
    (asgiref's own bookkeeping), if any: there the layer is used as before."""
    local = SyncToAsync.threadlocal
    if getattr(local, "main_event_loop_pid", None) != os.getpid():
        return None
    loop = getattr(local, "main_event_loop", None)
    return loop if loop is not None and loop.is_running() else None


def run_layer_call(method, *args):
    """``layer_call(method, *args)`` from synchronous code: on the calling async code's loop when
    there is one, else on the server's or the process's layer loop (pooled connections)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("Channel-layer calls from async code must be awaited, not run synchronously.")
    if _caller_event_loop() is not None:
        return async_to_sync(layer_call)(method, *args)
    future = asyncio.run_coroutine_threadsafe(layer_call(method, *args), _layer_loop.get())
    return future.result()


def send_to_group(group, message):
    try:
        run_layer_call(channel_layer().group_send, group, message)
    except Exception as error:  # e.g. Redis restarting: refuse, and let the transaction roll back
        log.warning("Channel layer unavailable: %r", error)
        raise HubHttpError(503, "The hub cannot distribute events right now; nothing was changed.")


def event_message(outgoing, sequence, exclude_endpoint=None):
    """The channel-layer message of an accepted event. The frame is encoded once here, not once
    per subscriber; the consumers only need its id and event name besides."""
    return {
        "type": EVENT_MESSAGE,
        "text": json.dumps(outgoing),
        "id": outgoing["id"],
        "name": outgoing["event"]["hub.event"],
        "event": outgoing["event"]["hub.event"].lower(),
        "seq": sequence,
        "exclude": exclude_endpoint,
    }


def publish(token, topic_name, notification, exclude_endpoint=None):
    """Apply and distribute a validated notification. Returns (notification, duplicate).
    Raises ContextConflict/EventError/HubHttpError before anything changes."""
    with transaction.atomic():
        topic = (
            topic_for(token, topic_name, for_update=True)
            if token is not None
            else (Topic.objects.select_for_update().get(name=topic_name))
        )
        state = topic.state or ctx.empty_state()
        if not ctx.remember_id(state, notification["id"], hub_settings.DUPLICATE_ID_WINDOW):
            return notification, True
        new_state, outgoing = ctx.apply(state, notification)
        new_state["recent_ids"] = state["recent_ids"]
        topic.state = new_state
        topic.sequence += 1
        # No event for a subscriber whose authorization was revoked since it subscribed.
        from .subscriptions import end_revoked_subscriptions  # (subscriptions imports this module)

        end_revoked_subscriptions(topic)
        # Distribute first, then write: the row lock taken above already orders the events of
        # this topic across processes, and the subscribers need not wait for the UPDATE. If the
        # layer refuses, nothing was written; if the write fails, the transaction rolls back
        # (the trade-off documented in docs/fhircast_hub.md: the event may have been seen).
        send_to_group(topic.group_name, event_message(outgoing, topic.sequence, exclude_endpoint))
        topic.save(update_fields=["state", "sequence", "updated"])
    return outgoing, False


def sync_error(topic_name, event_id, event_name, subscriber_name, diagnostics):
    """A hub-generated SyncError (FHIRcast 2-5, SyncError profile)."""
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "warning",
                "code": "processing",
                "diagnostics": diagnostics,
                "details": {
                    "coding": [
                        {"system": f"{SYNC_ERROR_SYSTEM}/eventid", "code": event_id},
                        {"system": f"{SYNC_ERROR_SYSTEM}/eventname", "code": event_name},
                        {
                            "system": f"{SYNC_ERROR_SYSTEM}/subscribername",
                            "code": subscriber_name or "unnamed",
                        },
                    ]
                },
            }
        ],
    }
    return {
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "id": uuid.uuid4().hex,
        "event": {
            "hub.topic": topic_name,
            "hub.event": "SyncError",
            "context": [{"key": "operationoutcome", "resource": outcome}],
        },
    }


def publish_sync_error(topic_name, failing_endpoint, **details):
    """Tell the other subscribers of SyncError that one subscriber is out of sync."""
    try:
        publish(None, topic_name, sync_error(topic_name, **details), exclude_endpoint=failing_endpoint)
    except Exception:  # a lost SyncError must not take the subscriber's socket down with it
        log.exception("Could not distribute a SyncError on a topic")
