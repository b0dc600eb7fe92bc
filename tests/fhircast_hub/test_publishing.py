"""The publish path's internals: the context state machine copies only what it changes, channel
layer calls from plain threads share one event loop per process, and consumers deliver the
frame encoded once by the publisher (and a message of the previous format, during an upgrade)."""

import asyncio
import copy
import threading

import pytest
from channels.layers import get_channel_layer

from fhircast_hub import context as ctx
from fhircast_hub import publishing
from fhircast_hub.events import validate_notification
from fhircast_hub.models import Topic, topic_group

from .conftest import call, patient, report, subscribed
from .conftest import notification as event_notification


def valid(name, context, **fields):
    return validate_notification(event_notification("t", name, context, id=f"id-{name}", **fields))


def test_apply_never_changes_the_state_it_was_given():
    """A refused request changes nothing: apply() works on copies, also now that it no longer
    deep-copies the whole state (open, suspend and resume, update, select, close)."""
    state = ctx.empty_state()
    state["recent_ids"] = ["a", "b"]

    def step(notification):
        nonlocal state
        before = copy.deepcopy(state)
        new_state, _ = ctx.apply(state, notification)
        assert state == before
        assert new_state["contexts"] is not state["contexts"]
        assert new_state["recent_ids"] == ["a", "b"] and new_state["recent_ids"] is not state["recent_ids"]
        state = new_state

    step(valid("Patient-open", [patient()]))
    step(valid("DiagnosticReport-open", [report(), patient()]))
    step(valid("DiagnosticReport-open", [report("rep-2"), patient()]))
    step(valid("DiagnosticReport-open", [report(), patient()]))  # resumes rep-1
    version = ctx.current_context(state)["context.versionId"]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "request": {"method": "PUT", "url": "Observation/o1"},
                "resource": {"resourceType": "Observation", "id": "o1"},
            }
        ],
    }
    step(
        valid(
            "DiagnosticReport-update",
            [report(), {"key": "updates", "resource": bundle}],
            **{"context.versionId": version},
        )
    )
    assert len(ctx.current_context(state)["context"][-1]["resource"]["entry"]) == 1
    step(
        valid(
            "DiagnosticReport-select",
            [report(), {"key": "select", "reference": [{"reference": "Observation/o1"}]}],
        )
    )
    before = copy.deepcopy(state)
    with pytest.raises(ctx.ContextConflict):  # a stale versionId is refused, nothing changed
        ctx.apply(
            state,
            valid(
                "DiagnosticReport-update",
                [report(), {"key": "updates", "resource": bundle}],
                **{"context.versionId": version},
            ),
        )
    assert state == before
    step(valid("DiagnosticReport-close", [report(), patient()]))
    assert ctx.current_context(state)["context.type"] == "DiagnosticReport"  # rep-2 again


def test_layer_calls_from_plain_threads_share_one_event_loop_per_process(monkeypatch):
    """A WSGI worker thread has no event loop: every publish used to start one (and a Redis
    connection with it). Now such calls run on the server's loop once a hub consumer has shown
    it, else on one layer loop per process; a forked child (another pid) gets its own."""
    seen = []

    async def where():
        seen.append(asyncio.get_running_loop())
        return len(seen)

    def from_threads(count=3):
        threads = [threading.Thread(target=publishing.run_layer_call, args=(where,)) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        return seen[-count:]

    monkeypatch.setattr(publishing._layer_loop, "server", None)
    first = from_threads()
    assert first[0] is first[1] is first[2] and first[0].is_running()
    monkeypatch.setattr(publishing._layer_loop, "pid", -1)  # as in a child after fork
    assert from_threads(1)[0] is not first[0]

    server = asyncio.new_event_loop()
    runner = threading.Thread(target=server.run_forever, daemon=True)
    runner.start()
    try:
        publishing.adopt_server_loop(server)
        assert from_threads(2) == [server, server]
        monkeypatch.setattr(publishing._layer_loop, "server", (-1, server))  # another process's
        assert server not in from_threads(1)
    finally:
        server.call_soon_threadsafe(server.stop)
        runner.join(10)
        server.close()
    publishing.adopt_server_loop(server)  # a loop that no longer runs is not used
    assert from_threads(1)[0] is not server


@pytest.mark.asyncio
async def test_a_layer_call_cannot_block_the_event_loop_it_runs_on():
    async def never():
        raise AssertionError("not reached")

    with pytest.raises(RuntimeError):
        publishing.run_layer_call(never)


def test_a_failing_layer_call_from_a_plain_thread_is_a_503():
    async def broken(*args):
        raise ConnectionError("redis is gone")

    class Layer:
        group_send = staticmethod(broken)

    original = publishing.channel_layer
    publishing.channel_layer = lambda: Layer()
    try:
        with pytest.raises(publishing.HubHttpError) as raised:
            publishing.send_to_group("fhircast.topic.x", {"type": "fhircast.event"})
    finally:
        publishing.channel_layer = original
    assert raised.value.status == 503


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_frame_is_the_event_as_accepted_and_is_acknowledged(hub, topic):
    """The publisher encodes the frame once; each subscriber gets exactly the accepted event and
    its acknowledgement is matched by id as before."""
    first, _, _ = await subscribed(hub, topic, "Patient-open,SyncError")
    second, _, _ = await subscribed(hub, topic, "Patient-open,SyncError")
    response = await call(hub.publish, topic, "Patient-open", [patient()], id="evt-once")
    assert response.status_code == 202
    accepted = response.json()["event"]
    for socket in (first, second):
        assert await socket.frame() == accepted
    await first.ack("evt-once")
    await second.ack("evt-once", status=500)  # a failure still yields a SyncError, to the others
    error = await first.frame()
    assert error["event"]["hub.event"] == "SyncError"
    assert await second.silent()
    await first.close()
    await second.close()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_event_message_of_the_previous_format_is_still_delivered(hub, topic):
    """During a rolling upgrade a process of the previous version sends the notification itself
    (no pre-encoded text): the consumer still delivers it and tracks its acknowledgement."""
    socket, _, _ = await subscribed(hub, topic, "Patient-open,SyncError")
    other, _, _ = await subscribed(hub, topic, "SyncError")
    event = event_notification(topic, "Patient-open", [patient()], id="evt-previous")
    await get_channel_layer().group_send(
        topic_group(topic),
        {
            "type": "fhircast.event",
            "notification": event,
            "event": "patient-open",
            "seq": 1,
            "exclude": None,
        },
    )
    assert await socket.frame() == event
    # as the previous version's process committed it
    await call(lambda: Topic.objects.filter(name=topic).update(sequence=1))
    await socket.ack(event["id"], status=500)  # tracked: the refusal yields a SyncError
    error = await other.frame()
    assert error["event"]["hub.event"] == "SyncError"
    assert (
        error["event"]["context"][0]["resource"]["issue"][0]["details"]["coding"][0]["code"] == "evt-previous"
    )
    await socket.close()
    await other.close()
