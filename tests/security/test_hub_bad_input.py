"""Bad input to the hub: a FHIRcast/HTTP error (plain-text 4xx over HTTP, an OperationOutcome
frame over the WebSocket), never a 500 or a dropped socket, and nothing changed or broadcast
(issue 13 "bad input"; FHIRcast 3.0 2-4, 2-5, 2-6)."""

import json

import pytest

from fhircast_hub.models import Subscription, Topic
from tests.fhircast_hub.conftest import (  # noqa: F401
    FORM,
    call,
    fresh_channel_layers,
    hub,
    notification,
    patient,
    session,
    subscribed,
    topic,
)


def _state():
    return (
        Subscription.objects.count(),
        [(t.name, t.sequence, json.dumps(t.state, sort_keys=True)) for t in Topic.objects.order_by("pk")],
    )


def _post_json(hub, text, token=None, path="/hub"):  # noqa: F811
    return hub.client.post(path, text, content_type="application/json", **hub.headers(token))


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("token", ["", "valid"])
@pytest.mark.parametrize("where", ["/hub", "topic"])
def test_deeply_nested_json_is_refused_with_or_without_a_token(hub, topic, token, where):  # noqa: F811
    """FHIRcast 2-4/2-6: a 4xx with a description; without a token the body is never read (401)."""
    before = _state()
    body = '{"hub.mode":"subscribe","x":' + DEEP + "}"
    path = "/hub" if where == "/hub" else f"/hub/{topic}"
    response = _post_json(hub, body, token=None if token else "", path=path)
    assert response.status_code == (400 if token else 401), response.content[:200]
    assert response["Content-Type"].startswith("text/plain")
    assert _state() == before


BAD_LEASES = ["1e400", "Infinity", "-Infinity", "1.5", "true", "1" + "0" * 40]


@pytest.mark.parametrize("lease", BAD_LEASES)
def test_lease_seconds_that_are_not_whole_numbers_are_400(hub, topic, lease):  # noqa: F811
    """FHIRcast 2-4: hub.lease_seconds is a number of seconds; anything else is a 400."""
    before = _state()
    fields = {"hub.mode": "subscribe", "hub.channel.type": "websocket", "hub.events": "Patient-open"}
    body = json.dumps({**fields, "hub.topic": topic})
    response = _post_json(hub, body[:-1] + f',"hub.lease_seconds":{lease}}}')
    assert response.status_code == 400, response.content
    assert b"lease_seconds" in response.content or b"JSON" in response.content
    assert _state() == before


@pytest.mark.parametrize(
    "where", ["id", "context-resource-id", "unknown-key-value"]
)
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_lone_surrogate_in_an_event_is_400_and_never_broadcast(hub, topic, where):  # noqa: F811
    """RFC 8259 §8.2: an unpaired surrogate is not Unicode text; the hub refuses the event."""
    socket, _, _ = await subscribed(hub, topic, "Patient-open")
    before = await call(_state)
    body = notification(topic, "Patient-open", [patient()])
    text = json.dumps(body)
    marker = {
        "id": f'"id": "{body["id"]}"',
        "context-resource-id": '"id": "pat-1"',
        "unknown-key-value": None,
    }[where]
    if marker is None:
        text = text.replace('"context": [', '"context": [{"key": "x-note", "text": "\\ud800"}, ')
    else:
        text = text.replace(marker, marker[:-1] + '\\ud800"', 1)
    response = await call(_post_json, hub, text)
    assert response.status_code == 400, response.content
    assert await call(_state) == before
    # Not broadcast: the next event the subscriber gets is the one published after it.
    sentinel = await call(hub.publish, topic, "Patient-open", [patient("sentinel")])
    assert (await socket.frame())["id"] == sentinel.json()["event"]["id"]
    await socket.close()


BAD_FRAMES = [
    '{"id": "e-1", "status": 1e400}',
    '{"id": "e-1", "status": Infinity}',
    '{"id": "e-1", "status": 99999999999999999999999}',
    '{"id": "e-1", "status": true}',
    '{"id": "\\ud800", "status": 200}',
    '{"id": "e-1", "x": ' + DEEP + "}",
    DEEP,
]


@pytest.mark.parametrize("frame", BAD_FRAMES)
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_bad_websocket_frames_get_an_outcome_and_the_socket_keeps_working(hub, topic, frame):  # noqa: F811
    """FHIRcast 2-5: a frame the hub cannot use is answered; the subscription is not dropped."""
    socket, _, _ = await subscribed(hub, topic, "Patient-open")
    other, _, _ = await subscribed(hub, topic, "Patient-open")
    before = await call(_state)
    await socket.communicator.send_to(text_data=frame)
    answer = await socket.frame()
    assert answer["resourceType"] == "OperationOutcome"
    assert await call(_state) == before
    await call(hub.publish, topic, "Patient-open", [patient()])
    assert (await socket.frame())["event"]["hub.event"] == "Patient-open"
    assert (await other.frame())["event"]["hub.event"] == "Patient-open"
    await socket.close()
    await other.close()


@pytest.mark.parametrize("name", ["n" * 201, {"first": "x"}, ["x"], 7])
def test_a_subscriber_name_that_does_not_fit_is_400(hub, topic, name, settings):  # noqa: F811
    """subscriber.name (FHIRcast 2-4, required by IHE IRA) is a string that fits the record;
    anything else is a 400, on SQLite as on PostgreSQL (where a long one raised a DataError)."""
    settings.FHIRCAST_HUB = {**settings.FHIRCAST_HUB, "REQUIRE_SUBSCRIBER_NAME": True}
    before = _state()
    response = hub.subscribe(topic, "Patient-open", form=False, **{"subscriber.name": name})
    assert response.status_code == 400, response.content
    assert b"subscriber.name" in response.content
    assert _state() == before


def directory_down(token, found_topic):
    """A vendor TOPIC_ACCESS_POLICY whose directory service is unreachable."""
    raise ConnectionError("ldap://hub:s3cret-password@directory.internal unreachable")


def test_an_unexpected_failure_is_a_plain_500_without_internals(hub, topic, settings, caplog):  # noqa: F811
    """A failure below the hub answers 500 with no internals; the traceback goes to the log."""
    settings.FHIRCAST_HUB = {**settings.FHIRCAST_HUB, "TOPIC_ACCESS_POLICY": f"{__name__}.directory_down"}
    before = _state()
    for response in (hub.current(topic), hub.publish(topic, "Patient-open", [patient()])):
        assert response.status_code == 500
        assert response["Content-Type"].startswith("text/plain")
        assert b"s3cret" not in response.content and b"ConnectionError" not in response.content
    assert _state() == before
    assert any(r.exc_info and "s3cret" in str(r.exc_info[1]) for r in caplog.records)
