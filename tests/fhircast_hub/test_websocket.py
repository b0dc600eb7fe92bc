"""Subscribers over real WebSockets (Channels communicators): confirmation, delivery, replay,
acknowledgements and SyncError, leases, re-subscribe and unsubscribe."""

import pytest

from fhircast_hub.models import Subscription

from .conftest import Socket, call, patient, report, study, subscribed


pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

SYNC = "https://fhircast.hl7.org/events/syncerror"


async def test_confirmation_lists_granted_events_and_lease(hub, topic):
    """FHIRcast 2-4: on connect the Hub SHALL send hub.mode, hub.topic, hub.events, hub.lease_seconds."""
    socket, _, confirmation = await subscribed(
        hub, topic, "patient-open,Patient-open,Patient-close", **{"hub.lease_seconds": "120"}
    )
    assert confirmation == {
        "hub.mode": "subscribe",
        "hub.topic": topic,
        "hub.events": "patient-open,Patient-close",
        "hub.lease_seconds": pytest.approx(120, abs=2),
    }
    await socket.close()


async def test_event_reaches_every_subscriber_including_the_publisher_in_order(hub, topic):
    """FHIRcast 2-6: broadcast to all subscribers of the event, the requester included, with the
    request's id and timestamp; per-topic order is the acceptance order."""
    publisher, _, _ = await subscribed(hub, topic, "Patient-open,Patient-close")
    viewer, _, _ = await subscribed(hub, topic, "patient-open,patient-close")  # case-insensitive
    sent = []
    for index in range(10):
        name = "Patient-open" if index % 2 == 0 else "Patient-close"
        response = await call(hub.publish, topic, name, [patient(f"p{index // 2}")], id=f"evt-{index}")
        assert response.status_code == 202
        sent.append(response.json()["event"])
    for socket in (publisher, viewer):
        frames = await socket.events(10)
        assert [f["id"] for f in frames] == [f"evt-{i}" for i in range(10)]
        assert frames[0]["timestamp"] == sent[0]["timestamp"]
        assert frames[0]["event"]["context"] == [patient("p0")]
        for frame in frames:
            await socket.ack(frame["id"])
        await socket.close()


async def test_subscribers_only_get_the_events_they_asked_for(hub, topic):
    """FHIRcast 2-5: the Hub SHALL only send events the subscriber subscribed to."""
    patients, _, _ = await subscribed(hub, topic, "Patient-open")
    studies, _, _ = await subscribed(hub, topic, "ImagingStudy-open")
    await call(hub.publish, topic, "ImagingStudy-open", [study(), patient()])
    frame = await studies.frame()
    assert frame["event"]["hub.event"] == "ImagingStudy-open"
    assert await patients.silent()
    await patients.close()
    await studies.close()


async def test_current_context_is_replayed_after_the_confirmation(hub, topic):
    """FHIRcast 2-4: after confirming, the Hub SHALL send the most recent open per anchor type
    that was not closed, with its original timestamp, filtered by the subscriber's events."""
    opened = (
        await call(hub.publish, topic, "Patient-open", [patient()], timestamp="2026-01-01T10:00:00Z")
    ).json()
    await call(hub.publish, topic, "ImagingStudy-open", [study(), patient()])
    socket, _, _ = await subscribed(hub, topic, "Patient-open,ImagingStudy-open")
    replayed = await socket.events(2)
    assert [f["event"]["hub.event"] for f in replayed] == ["Patient-open", "ImagingStudy-open"]
    assert replayed[0]["id"] == opened["event"]["id"]
    assert replayed[0]["timestamp"] == "2026-01-01T10:00:00Z"
    await socket.close()
    only_studies, _, _ = await subscribed(hub, topic, "ImagingStudy-open")
    assert (await only_studies.frame())["event"]["hub.event"] == "ImagingStudy-open"
    assert await only_studies.silent()
    await only_studies.close()


async def test_closed_context_is_not_replayed(hub, topic):
    """FHIRcast 2-4: only opens without a later close are sent on subscription."""
    await call(hub.publish, topic, "Patient-open", [patient()])
    await call(hub.publish, topic, "Patient-close", [patient()])
    socket, _, _ = await subscribed(hub, topic, "Patient-open")
    assert await socket.silent()
    await socket.close()


async def test_reconnecting_to_the_endpoint_gets_confirmation_and_context_again(hub, topic):
    """A dropped subscriber reconnects to its endpoint within the lease (clients rely on it)."""
    socket, endpoint, confirmation = await subscribed(hub, topic, "Patient-open")
    await call(hub.publish, topic, "Patient-open", [patient()])
    await socket.frame()
    await socket.close(code=1006)
    again = await Socket(endpoint).open()
    assert (await again.frame())["hub.mode"] == "subscribe"
    assert (await again.frame())["event"]["context"] == [patient()]
    await again.close()


async def test_unknown_endpoint_is_denied_and_closed():
    """FHIRcast 2-4 (denial) and IHE IRA RAD-147: an unknown endpoint gets a denial and a close."""
    socket = await Socket("ws://testserver/hub/ws/not-a-subscription").open()
    denial = await socket.frame()
    assert denial["hub.mode"] == "denied" and denial["hub.reason"]
    closed, _ = await socket.closed()
    assert closed


async def test_unsubscribe_denies_closes_and_stops_delivery(hub, topic):
    """FHIRcast 2-4: 202 with the endpoint, a denial over the socket, then the socket closes;
    other subscribers of the topic are unaffected; the endpoint is not reused."""
    leaving, endpoint, _ = await subscribed(hub, topic, "Patient-open")
    staying, _, _ = await subscribed(hub, topic, "Patient-open")
    response = await call(hub.unsubscribe, topic, endpoint)
    assert response.status_code == 202
    denial = await leaving.frame()
    assert denial == {
        "hub.mode": "denied",
        "hub.topic": topic,
        "hub.events": "Patient-open",
        "hub.reason": "unsubscribed",
    }
    assert (await leaving.closed())[0]
    await call(hub.publish, topic, "Patient-open", [patient()])
    assert (await staying.frame())["event"]["hub.event"] == "Patient-open"
    retry = await Socket(endpoint).open()
    assert (await retry.frame())["hub.mode"] == "denied"
    await staying.close()


async def test_resubscribe_with_the_same_endpoint_replaces_the_events(hub, topic):
    """FHIRcast 2-4: a re-subscription overrides the state of (topic, endpoint)."""
    socket, endpoint, _ = await subscribed(hub, topic, "Patient-open")
    response = await call(hub.subscribe, topic, "ImagingStudy-open", **{"hub.channel.endpoint": endpoint})
    assert response.status_code == 202 and response.json()["hub.channel.endpoint"] == endpoint
    confirmation = await socket.frame()
    assert confirmation["hub.events"] == "ImagingStudy-open"
    await call(hub.publish, topic, "Patient-open", [patient()])
    await call(hub.publish, topic, "ImagingStudy-open", [study(), patient()])
    assert (await socket.frame())["event"]["hub.event"] == "ImagingStudy-open"
    assert await Subscription.objects.acount() == 1
    await socket.close()


async def test_lease_expiry_denies_and_closes(hub, topic):
    """FHIRcast 2-4: when a lease expires the Hub unsubscribes and closes the socket."""
    socket, endpoint, confirmation = await subscribed(
        hub, topic, "Patient-open", **{"hub.lease_seconds": "1"}
    )
    assert confirmation["hub.lease_seconds"] <= 1
    denial = await socket.frame()
    assert denial["hub.mode"] == "denied" and "lease" in denial["hub.reason"]
    assert (await socket.closed())[0]
    again = await Socket(endpoint).open()
    assert (await again.frame())["hub.mode"] == "denied"


def failed(frame):
    codings = frame["event"]["context"][0]["resource"]["issue"][0]["details"]["coding"]
    return {c["system"].rsplit("/", 1)[1]: c["code"] for c in codings}


@pytest.mark.parametrize("status", [409, "500", 404])
async def test_a_refusal_yields_a_syncerror_to_the_other_subscribers(hub, topic, status):
    """FHIRcast 2-5: a 4xx/5xx answer SHALL lead the Hub to send a SyncError (profile codings
    eventid, eventname, subscribername), only to subscribers of SyncError."""
    refuser, _, _ = await subscribed(hub, topic, "Patient-open,SyncError", **{"subscriber.name": "PACS"})
    watcher, _, _ = await subscribed(hub, topic, "Patient-open,SyncError", **{"subscriber.name": "EHR"})
    bystander, _, _ = await subscribed(hub, topic, "Patient-open")
    await call(hub.publish, topic, "Patient-open", [patient()], id="e-1")
    for socket in (refuser, watcher, bystander):
        assert (await socket.frame())["id"] == "e-1"
    await watcher.ack("e-1")
    await bystander.ack("e-1", status=None)  # lenient: no status counts as success
    await refuser.ack("e-1", status=status)
    error = await watcher.frame()
    assert error["event"]["hub.event"] == "SyncError"
    issue = error["event"]["context"][0]["resource"]["issue"][0]
    assert issue["code"] == "processing" and issue["severity"] == "warning" and issue["diagnostics"]
    assert failed(error) == {"eventid": "e-1", "eventname": "Patient-open", "subscribername": "PACS"}
    assert await bystander.silent() and await refuser.silent()
    for socket in (refuser, watcher, bystander):
        await socket.close()


async def test_success_acks_produce_no_syncerror(hub, topic):
    """FHIRcast 2-5: 200 and 202 are success."""
    first, _, _ = await subscribed(hub, topic, "Patient-open,SyncError")
    second, _, _ = await subscribed(hub, topic, "Patient-open,SyncError")
    await call(hub.publish, topic, "Patient-open", [patient()], id="ok")
    await first.frame()
    await second.frame()
    await first.ack("ok", "200")
    await second.ack("ok", 202)
    assert await first.silent() and await second.silent()
    await first.close()
    await second.close()


async def test_an_unresponsive_subscriber_gets_a_syncerror_and_is_unsubscribed(hub, topic, settings):
    """FHIRcast 2-5: no answer in time → SyncError; the Hub SHALL then unsubscribe it."""
    settings.FHIRCAST_HUB = {"ACK_TIMEOUT_SECONDS": 0.5}
    silent, endpoint, _ = await subscribed(hub, topic, "Patient-open", **{"subscriber.name": "Sleepy"})
    watcher, _, _ = await subscribed(hub, topic, "Patient-open,SyncError")
    await call(hub.publish, topic, "Patient-open", [patient()], id="e-2")
    await silent.frame()
    await watcher.ack((await watcher.frame())["id"])
    error = await watcher.frame()
    assert failed(error)["subscribername"] == "Sleepy"
    denial = await silent.frame()
    assert denial["hub.mode"] == "denied"
    assert (await silent.closed())[0]
    assert not (await Subscription.objects.aget(endpoint=endpoint.rsplit("/", 1)[1])).active
    await watcher.close()


async def test_strict_acks_require_a_status(hub, topic, settings):
    settings.FHIRCAST_HUB = {"ACK_STATUS_REQUIRED": True}
    socket, _, _ = await subscribed(hub, topic, "Patient-open")
    await call(hub.publish, topic, "Patient-open", [patient()], id="e-3")
    await socket.frame()
    await socket.ack("e-3", status=None)
    answer = await socket.frame()
    assert answer["resourceType"] == "OperationOutcome" and "status" in answer["issue"][0]["diagnostics"]
    await socket.close()


@pytest.mark.parametrize("frame", ["not json", "[1, 2]", '{"status": 200}', '{"id": "x", "status": "ok"}'])
async def test_bad_frames_get_an_operation_outcome_and_change_nothing(hub, topic, frame):
    socket, _, _ = await subscribed(hub, topic, "Patient-open")
    other, _, _ = await subscribed(hub, topic, "Patient-open")
    await socket.communicator.send_to(text_data=frame)
    answer = await socket.frame()
    assert answer["resourceType"] == "OperationOutcome"
    await call(hub.publish, topic, "Patient-open", [patient()])
    assert (await socket.frame())["event"]["hub.event"] == "Patient-open"
    assert (await other.frame())["event"]["hub.event"] == "Patient-open"
    await socket.close()
    await other.close()


async def test_content_sharing_over_the_socket(hub, topic):
    """FHIRcast 2-10: open carries a versionId; an update carries the new and prior versions."""
    socket, _, _ = await subscribed(
        hub, topic, "DiagnosticReport-open,DiagnosticReport-update,DiagnosticReport-select"
    )
    await call(hub.publish, topic, "DiagnosticReport-open", [report(), patient()])
    opened = await socket.frame()
    version = opened["event"]["context.versionId"]
    bundle = {
        "resourceType": "Bundle",
        "id": "bundle-1",
        "type": "transaction",
        "entry": [
            {
                "request": {"method": "PUT", "url": "Observation/o1"},
                "resource": {"resourceType": "Observation", "id": "o1"},
            }
        ],
    }
    ref = {"key": "report", "reference": {"reference": "DiagnosticReport/rep-1"}}
    await call(
        hub.publish,
        topic,
        "DiagnosticReport-update",
        [ref, {"key": "updates", "resource": bundle}],
        **{"context.versionId": version},
    )
    updated = await socket.frame()
    assert updated["event"]["context.priorVersionId"] == version
    assert updated["event"]["context"][1]["resource"]["id"] == "bundle-1"
    await call(
        hub.publish,
        topic,
        "DiagnosticReport-select",
        [ref, {"key": "select", "reference": [{"reference": "Observation/o1"}]}],
    )
    assert (await socket.frame())["event"]["hub.event"] == "DiagnosticReport-select"
    await socket.close()


async def test_origin_check_is_configurable(hub, topic, settings):
    """FHIRcast 4-3: the hub cannot rely on Origin, so the check is opt-in."""
    settings.FHIRCAST_HUB = {"WEBSOCKET_ALLOWED_ORIGINS": ["https://viewer.example"]}
    response = await call(hub.subscribe, topic, "Patient-open")
    socket = Socket(response.json()["hub.channel.endpoint"])
    socket.communicator.scope["headers"] = [(b"origin", b"https://evil.example")]
    connected, _ = await socket.communicator.connect(timeout=3)
    assert not connected


async def test_abnormal_close_yields_a_syncerror_and_a_normal_close_does_not(hub, topic):
    """FHIRcast 2-5: the Hub MAY send a SyncError when a socket closes abnormally and SHALL NOT
    for 1000/1001."""
    polite, _, _ = await subscribed(hub, topic, "Patient-open", **{"subscriber.name": "Polite"})
    crashing, _, _ = await subscribed(hub, topic, "Patient-open", **{"subscriber.name": "Crashy"})
    watcher, _, _ = await subscribed(hub, topic, "Patient-open,SyncError")
    await call(hub.publish, topic, "Patient-open", [patient()], id="e-9")
    for socket in (polite, crashing, watcher):
        await socket.ack((await socket.frame())["id"])
    await polite.close(code=1000)
    assert await watcher.silent()
    await crashing.close(code=1006)
    error = await watcher.frame()
    assert failed(error) == {"eventid": "e-9", "eventname": "Patient-open", "subscribername": "Crashy"}
    await watcher.close()


async def test_disabling_a_client_ends_its_subscriptions_at_once(
    hub, topic, public_client, backend_token, settings
):
    """Fail closed: an app switched off in the admin loses its open sockets with its tokens (FHIRcast
    2-4: the Hub unsubscribes with a denial and closes the socket); another client's subscriber on
    the same topic keeps receiving."""
    from .conftest import Hub

    client_id, token = await call(backend_token)
    settings.FHIRCAST_HUB = {"TRUSTED_BACKEND_CLIENTS": [client_id]}
    backend = Hub(hub.client, token)
    leaving, endpoint, _ = await subscribed(hub, topic, "Patient-open")
    staying, _, _ = await subscribed(backend, topic, "Patient-open")
    smart = await call(lambda: public_client.smart)
    smart.enabled = False
    await call(smart.save)
    denial = await leaving.frame()
    assert denial["hub.mode"] == "denied" and denial["hub.reason"] == "the client was disabled"
    assert (await leaving.closed())[0]
    assert not (await Subscription.objects.aget(endpoint=endpoint.rstrip("/").rsplit("/", 1)[-1])).active
    response = await call(backend.publish, topic, "Patient-open", [patient()])
    assert response.status_code == 202, response.content
    assert (await staying.frame())["event"]["hub.event"] == "Patient-open"
    assert (await call(hub.subscribe, topic, "Patient-open")).status_code == 401  # its token is dead
    await staying.close()
