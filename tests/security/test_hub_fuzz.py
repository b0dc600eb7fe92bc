"""Fuzzing the hub (Hypothesis, a bounded number of examples, no deadline): HTTP bodies and
WebSocket frames never get a 5xx or a dropped socket, and what the hub refuses changes nothing
(FHIRcast 3.0 2-4, 2-5, 2-6; issue 13 "fuzz")."""

import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhircast_hub.events import CATALOG
from fhircast_hub.models import Subscription, Topic
from tests.fhircast_hub.conftest import Socket, fresh_channel_layers, hub, patient, session, topic  # noqa: F401


FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**25), max_value=10**25),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["Patient", "pat-1", "DiagnosticReport/rep-1", "select", "report", "Bundle"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
context_items = st.fixed_dictionaries(
    {"key": st.sampled_from(["patient", "report", "study", "select", "updates", "x"])},
    optional={
        "resource": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {"resourceType": st.sampled_from(["Patient", "DiagnosticReport", "Bundle"]), "id": scalars}
            ),
        ),
        "reference": json_values,
    },
)
RAW = [
    "[" * 5000,
    '{"a":' * 200 + "1" + "}" * 200,
    "1e400",
    "Infinity",
    '"\\ud800"',
    '{"hub.lease_seconds": 1e400}',
    "\x00",
    "",
]


def _state():
    return (
        Subscription.objects.count(),
        [(t.name, t.sequence, json.dumps(t.state, sort_keys=True)) for t in Topic.objects.order_by("pk")],
    )


def _bodies(topic_name):
    notification = st.fixed_dictionaries(
        {
            "timestamp": st.one_of(st.just("2026-01-01T00:00:00Z"), scalars),
            "id": st.one_of(st.uuids().map(str), scalars),
            "event": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {
                        "hub.topic": st.one_of(st.just(topic_name), scalars),
                        "hub.event": st.one_of(st.sampled_from(sorted(CATALOG)), scalars),
                        "context": st.one_of(st.lists(context_items, max_size=4), json_values),
                    },
                    optional={"context.versionId": scalars},
                ),
            ),
        }
    ).map(json.dumps)
    subscription = st.fixed_dictionaries(
        {
            "hub.mode": st.sampled_from(["subscribe", "unsubscribe", "x"]),
            "hub.channel.type": st.sampled_from(["websocket", "webhook"]),
            "hub.topic": st.one_of(st.just(topic_name), scalars),
            "hub.events": st.one_of(st.sampled_from(["Patient-open", "*", ""]), scalars),
        },
        optional={"hub.lease_seconds": scalars, "hub.channel.endpoint": scalars, "subscriber.name": scalars},
    ).map(json.dumps)
    return st.one_of(notification, subscription, st.sampled_from(RAW), st.text(max_size=50))


@pytest.mark.django_db
def test_hub_http_bodies_never_5xx_and_refusals_change_nothing(hub, topic):  # noqa: F811
    """FHIRcast 2-4 (subscriptions) and 2-6 (context changes): a refusal is a 4xx, nothing kept."""
    @FUZZ
    @given(body=_bodies(topic), path=st.sampled_from(["/hub", f"/hub/{topic}"]))
    def run(body, path):
        before = _state()
        response = hub.client.post(path, body, content_type="application/json", **hub.headers())
        assert response.status_code < 500, response.content[:300]
        if response.status_code != 202:
            assert response["Content-Type"].startswith("text/plain")
            assert _state() == before

    run()


frames = st.one_of(
    st.sampled_from(RAW),
    st.text(max_size=60),
    json_values.map(json.dumps),
    st.fixed_dictionaries({"id": st.one_of(st.text(max_size=8), scalars)}, optional={"status": scalars}).map(
        json.dumps
    ),
).filter(bool)  # a WebSocket text frame is never empty here (the test communicator refuses one)


@pytest.mark.django_db(transaction=True)
def test_websocket_frames_never_drop_the_socket_or_change_anything(hub, topic):  # noqa: F811
    """FHIRcast 2-5: subscriber frames are acknowledgements; anything else gets an outcome, and
    the subscription keeps delivering events."""
    endpoint = hub.subscribe(topic, "Patient-open").json()["hub.channel.endpoint"]

    async def exchange(sent):
        socket = await Socket(endpoint).open()
        assert (await socket.frame())["hub.mode"] == "subscribe"
        before = await sync_to_async(_state)()
        for frame in sent:
            await socket.communicator.send_to(text_data=frame)
        assert await sync_to_async(_state)() == before
        # The socket still works: what comes before the next event are only OperationOutcomes.
        response = await sync_to_async(hub.publish)(topic, "Patient-open", [patient()])
        assert response.status_code == 202
        while True:
            output = await socket.communicator.receive_output(timeout=3)
            assert output["type"] == "websocket.send", output
            received = json.loads(output["text"])
            if "event" in received:
                break
            assert received["resourceType"] == "OperationOutcome"
        await socket.close()

    @FUZZ
    @given(sent=st.lists(frames, min_size=1, max_size=4))
    def run(sent):
        channel_layers.backends = {}  # each example runs in its own event loop
        async_to_sync(exchange)(sent)

    run()
