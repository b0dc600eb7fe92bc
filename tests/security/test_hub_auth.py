"""Authorization on every hub endpoint (issue 13 "hub"): a `fhircast/` scope for what is asked
(FHIRcast 3.0 2-2), a token issued for this deployment (RFC 9068 §4: a resource server SHALL
refuse a token whose `aud` does not name it), and never a token used up by being shown."""

import json

import pytest

from fhircast_hub.models import Subscription, Topic
from smart_auth.models import LaunchToken
from tests.fhircast_hub.conftest import Hub, backend_token, fresh_channel_layers, patient  # noqa: F401


IMAGING = "http://imaging.test/fhir"  # governed by the same authorization server, not this hub


def _hub_state():
    return (
        Subscription.objects.count(),
        sorted(Topic.objects.values_list("name", "sequence")),
        [json.dumps(t.state, sort_keys=True) for t in Topic.objects.order_by("pk")],
    )


def _every_endpoint(hub, topic):
    """One request of each kind the hub serves over HTTP."""
    return {
        "subscribe": hub.subscribe(topic, "Patient-open"),
        "subscribe-json": hub.subscribe(topic, "Patient-open", form=False),
        "publish": hub.publish(topic, "Patient-open", [patient()]),
        "publish-to-topic": hub.client.post(
            f"/hub/{topic}",
            json.dumps(_open(topic)),
            content_type="application/json",
            **hub.headers(),
        ),
        "current-context": hub.current(topic),
        "sessions": hub.client.get("/hub/session", **hub.headers()),
    }


def _open(topic):
    from tests.fhircast_hub.conftest import notification

    return notification(topic, "Patient-open", [patient()])


@pytest.fixture
def opened_topic(client, flow, users):
    """A clinician's session with a Patient open (so a leak would have something to show)."""
    body = flow.run("openid fhirUser fhircast/*.read fhircast/*.write", users["clinician"]).json()
    hub = Hub(client, body["access_token"])
    assert hub.publish(body["hub.topic"], "Patient-open", [patient()]).status_code == 202
    return body["hub.topic"]


@pytest.mark.parametrize(
    "scope",
    ["openid fhirUser", "openid fhirUser user/*.rs", "openid fhirUser fhircast/Patient-open.write"],
)
def test_reading_a_session_needs_a_fhircast_read_scope(client, flow, users, opened_topic, scope):
    """FHIRcast 3.0 2-2/2-9: Get Current Context and session discovery are reads of the session."""
    reader = flow.run("openid fhirUser fhircast/*.read", users["clinician"]).json()["access_token"]
    subscriber = Hub(client, reader)
    endpoint = subscriber.subscribe(opened_topic, "Patient-open").json()["hub.channel.endpoint"]
    token = flow.run(scope, users["clinician"]).json()["access_token"]
    hub = Hub(client, token)
    before = _hub_state()
    current, sessions = hub.current(opened_topic), client.get("/hub/session", **hub.headers())
    unsubscribe = hub.unsubscribe(opened_topic, endpoint)  # a subscription is a read too
    for response in (current, sessions, unsubscribe):
        assert response.status_code == 403, response.content
        assert opened_topic.encode() not in response.content
        assert b"pat-1" not in response.content
    assert _hub_state() == before
    assert Subscription.objects.get().active


def test_a_token_for_another_audience_is_refused_everywhere(client, flow, users, opened_topic):
    """RFC 9068 §4 / RFC 8707: a token whose `aud` is the imaging server is not for this hub."""
    body = flow.run("openid fhirUser fhircast/*.read fhircast/*.write", users["clinician"], aud=IMAGING)
    assert body.status_code == 200, body.content
    hub = Hub(client, body.json()["access_token"])
    before = _hub_state()
    for name, response in _every_endpoint(hub, opened_topic).items():
        assert response.status_code == 401, (name, response.content)
        assert "invalid_token" in response["WWW-Authenticate"]
        assert b"pat-1" not in response.content
    # Nor does naming the other server in the Host header make the hub accept it.
    spoofed = client.get(f"/hub/{opened_topic}", HTTP_HOST="imaging.test", **hub.headers())
    assert spoofed.status_code == 401
    assert _hub_state() == before


def _trusting(settings, *client_ids):
    settings.FHIRCAST_HUB = {**settings.FHIRCAST_HUB, "TRUSTED_BACKEND_CLIENTS": list(client_ids)}


@pytest.fixture
def launch_token(flow, users, public_client):
    """A patient's launch-token (multi-server approach B), issued to the demo app."""
    from smart_auth.launch import create_launch

    launch = create_launch(public_client, user=users["patient"], patient="pat-1")
    response = flow.run("launch launch-token patient/*.rs fhircast", users["patient"], launch=launch.handle)
    assert response.status_code == 200, response.content
    return response.json()["launch_token"]


@pytest.mark.parametrize("trusted", [False, True])
def test_a_launch_token_is_refused_and_never_used_up(
    client, users, opened_topic, launch_token, public_client, backend_token, settings, trusted  # noqa: F811
):
    """A launch-token is single-use and for the imaging authorization server's introspection
    only; shown to the hub it is refused (401) and stays unused. When TRUSTED_BACKEND_CLIENTS
    names the app, it still never passes as a backend token (SMART Backend Services: a backend
    is a client acting alone), and neither does a user's token of that app."""
    backend_id, backend = backend_token()
    if trusted:
        _trusting(settings, public_client.client_id, backend_id)
    hub = Hub(client, launch_token)
    before = _hub_state()
    for name, response in _every_endpoint(hub, opened_topic).items():
        assert response.status_code == 401, (name, response.content)
        assert b"pat-1" not in response.content
    assert _hub_state() == before
    assert LaunchToken.objects.get().consumed is None
    if not trusted:
        return
    # The app's token for its patient user reaches that user's sessions only.
    from tests.conftest import Flow

    token = Flow(client, public_client).run("openid fhirUser fhircast/*.read", users["patient"]).json()
    as_user = Hub(client, token["access_token"])
    assert as_user.current(opened_topic).status_code == 403
    rows = client.get("/hub/session", **as_user.headers()).json()["sessions"]
    assert opened_topic not in [row["hub.topic"] for row in rows]
    # A real backend service of a trusted client is still served.
    assert Hub(client, backend).current(opened_topic).status_code == 200
