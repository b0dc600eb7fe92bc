"""The hub's HTTP API: discovery, token response, authorization, subscriptions, context changes."""

import json

import pytest

from fhircast_hub.models import Subscription, Topic

from .conftest import Hub, patient, report


def test_well_known_configuration_needs_no_token(client):
    """FHIRcast 2-7: the Hub SHALL serve .well-known/fhircast-configuration."""
    for path in ("/hub/.well-known/fhircast-configuration", "/.well-known/fhircast-configuration"):
        response = client.get(path)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/json")
        body = response.json()
        assert {"Patient-open", "DiagnosticReport-update", "SyncError", "UserLogout"} <= set(
            body["eventsSupported"]
        )
        assert body["websocketSupport"] is True
        assert body["fhircastVersion"] == "3.0.0"
        assert body["capabilities"]["supportsGetCurrentContext"] is body["getCurrentSupport"] is True


def test_token_response_names_hub_and_topic(session, users):
    """FHIRcast 2-1: hub.url and hub.topic come with the access token (and the older names)."""
    assert session["hub.url"] == "http://testserver/hub"
    assert session["cast-hub"] == session["hub.url"]
    assert session["cast-session"] == session["hub.topic"]
    topic = Topic.objects.get(name=session["hub.topic"])
    assert topic.user == users["clinician"]
    assert len(topic.name) >= 40  # opaque and unguessable (FHIRcast 4-3)


def test_token_without_fhircast_scopes_gets_no_hub(flow, users):
    body = flow.run("openid fhirUser", users["clinician"]).json()
    assert "hub.url" not in body and "hub.topic" not in body


def test_older_single_fhircast_scope_grants_the_hub(client, flow, users):
    """May 2019 ballot: the single ``fhircast`` scope; it allows every event."""
    body = flow.run("openid fhirUser fhircast", users["clinician"]).json()
    hub = Hub(client, body["access_token"])
    assert hub.subscribe(body["hub.topic"], "Patient-open").status_code == 202
    assert hub.publish(body["hub.topic"], "Patient-open", [patient()]).status_code == 202


def test_requests_without_a_valid_bearer_token_are_refused(hub, topic):
    """FHIRcast 2-4: subscription requests carry an Authorization bearer token."""
    assert hub.subscribe(topic, "Patient-open", token="").status_code == 401
    assert hub.subscribe(topic, "Patient-open", token="not-a-token").status_code == 401
    assert hub.publish(topic, "Patient-open", [patient()], token="").status_code == 401
    response = hub.current(topic, token="")
    assert response.status_code == 401 and "Bearer" in response["WWW-Authenticate"]


def test_another_users_topic_is_refused(hub, client, flow, users):
    """FHIRcast 4-3: the topic acts as a ticket; only its owner (or a trusted backend) uses it."""
    other = Topic.objects.create(user=users["other"])
    assert hub.subscribe(other.name, "Patient-open").status_code == 403
    assert hub.publish(other.name, "Patient-open", [patient()]).status_code == 403
    assert hub.current(other.name).status_code == 403
    assert hub.subscribe("no-such-topic", "Patient-open").status_code == 403


def test_scopes_limit_events_per_mode(client, flow, users):
    """FHIRcast 2-2: fhircast/<event>.read to subscribe, .write to request a change."""
    body = flow.run(
        "openid fhirUser fhircast/Patient-open.read fhircast/Patient-close.read", users["clinician"]
    ).json()
    hub = Hub(client, body["access_token"])
    assert hub.subscribe(body["hub.topic"], "Patient-open,Patient-close").status_code == 202
    refused = hub.subscribe(body["hub.topic"], "Patient-open,Encounter-open")
    assert refused.status_code == 403 and b"Encounter-open" in refused.content
    assert hub.publish(body["hub.topic"], "Patient-open", [patient()]).status_code == 403


def test_backend_token_needs_to_be_trusted(backend_token, client, users, settings):
    client_id, token = backend_token()
    topic = Topic.objects.create(user=users["clinician"])
    hub = Hub(client, token)
    assert hub.subscribe(topic.name, "Patient-open").status_code == 403
    settings.FHIRCAST_HUB = {"TRUSTED_BACKEND_CLIENTS": [client_id]}
    assert hub.subscribe(topic.name, "Patient-open").status_code == 202
    assert hub.publish(topic.name, "Patient-open", [patient()]).status_code == 202


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hub.channel.type": None}, b"hub.channel.type"),
        ({"hub.channel.type": "webhook"}, b"websocket"),
        ({"hub.mode": "foo"}, b"hub.mode"),
        ({"hub.events": ""}, b"hub.events"),
        ({"hub.events": "Patient-jump"}, b"Unknown event"),
        ({"hub.lease_seconds": "soon"}, b"hub.lease_seconds"),
        ({"hub.channel.endpoint": "ws://testserver/hub/ws/unknown"}, b"hub.channel.endpoint"),
    ],
)
def test_invalid_subscriptions_get_400_with_a_description_and_create_nothing(hub, topic, change, message):
    """FHIRcast 2-4: a refused subscription gets 4xx and a plain-text description."""
    response = hub.subscribe(topic, "Patient-open", **change)
    assert response.status_code == 400
    assert message in response.content
    assert response["Content-Type"].startswith("text/plain")
    assert not Subscription.objects.exists()


def test_missing_topic_is_400(hub):
    assert hub.subscribe("", "Patient-open").status_code == 400


def test_subscriber_name_can_be_required(hub, topic, settings):
    """IHE IRA RAD-146: subscriber.name is required (400) when that rule is on."""
    settings.FHIRCAST_HUB = {"REQUIRE_SUBSCRIBER_NAME": True}
    assert hub.subscribe(topic, "Patient-open").status_code == 400
    assert hub.subscribe(topic, "Patient-open", **{"subscriber.name": "PACS"}).status_code == 202


def test_subscribe_answers_202_with_distinct_unguessable_endpoints(hub, topic):
    """FHIRcast 2-4: 202 with hub.channel.endpoint, cryptographically random and unique."""
    first = hub.subscribe(topic, "Patient-open")
    second = hub.subscribe(topic, "Patient-open", form=False)
    assert first.status_code == second.status_code == 202
    assert first["Content-Type"].startswith("application/json")
    urls = [first.json()["hub.channel.endpoint"], second.json()["hub.channel.endpoint"]]
    assert urls[0] != urls[1]
    for url in urls:
        assert url.startswith("ws://testserver/hub/ws/")
        secret = url.rsplit("/", 1)[1]
        assert len(secret) >= 43 and topic not in url


def test_parameters_may_appear_only_once(hub, topic):
    """FHIRcast 2-4: each parameter at most once."""
    response = hub.client.post(
        "/hub",
        f"hub.mode=subscribe&hub.channel.type=websocket&hub.topic={topic}&hub.events=Patient-open&hub.events=Patient-close",
        content_type="application/x-www-form-urlencoded",
        **hub.headers(),
    )
    assert response.status_code == 400


def test_lease_is_capped_by_the_token_expiry(hub, topic, settings):
    """FHIRcast 2-4: the lease SHALL NOT exceed the access token's expiry."""
    settings.FHIRCAST_HUB = {"DEFAULT_LEASE_SECONDS": 10**6, "MAX_LEASE_SECONDS": 10**7}
    hub.subscribe(topic, "Patient-open", **{"hub.lease_seconds": "5000000"})
    subscription = Subscription.objects.get()
    assert 0 < subscription.lease_seconds() <= 3600  # the test tokens live 3600 s


def test_unsubscribe_needs_an_endpoint_of_that_topic(hub, topic, users):
    """IHE IRA RAD-147: unsubscribe without a (matching) endpoint → 400; others unaffected."""
    endpoint = hub.subscribe(topic, "Patient-open").json()["hub.channel.endpoint"]
    assert hub.unsubscribe(topic, None).status_code == 400
    assert hub.unsubscribe(topic, "ws://testserver/hub/ws/other").status_code == 400
    assert Subscription.objects.get().active
    response = hub.unsubscribe(topic, endpoint)
    assert response.status_code == 202 and response.json() == {"hub.channel.endpoint": endpoint}
    assert not Subscription.objects.get().active
    assert hub.unsubscribe(topic, endpoint).status_code == 400  # SHALL NOT be reused


@pytest.mark.parametrize("kind", ["application/json", "application/fhir+json"])
def test_context_change_is_accepted_and_current_context_follows(hub, topic, kind):
    """FHIRcast 2-6 and 2-9: accept the change; GET {hub}/{topic} returns the latest open."""
    assert hub.current(topic).json() == {"context.type": "", "context.versionId": "", "context": []}
    response = hub.publish(topic, "Patient-open", [patient()], content_type=kind)
    assert response.status_code == 202
    current = hub.current(topic).json()
    assert current["context.type"] == "Patient"
    assert current["context"] == [patient()]
    assert current["context.versionId"]
    hub.publish(topic, "Patient-close", [patient()])
    assert hub.current(topic).json()["context"] == []


def test_context_change_by_topic_url_is_equivalent(hub, topic):
    """STU2 form: POST {hub}/{topic}; the topic in the body must match."""
    body = json.dumps(
        {
            "timestamp": "2026-01-01T00:00:00Z",
            "id": "x1",
            "event": {"hub.topic": topic, "hub.event": "Patient-open", "context": [patient()]},
        }
    )
    assert (
        hub.client.post(f"/hub/{topic}", body, content_type="application/json", **hub.headers()).status_code
        == 202
    )
    wrong = body.replace(topic, "other")
    assert (
        hub.client.post(f"/hub/{topic}", wrong, content_type="application/json", **hub.headers()).status_code
        == 400
    )


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"id": "1", "timestamp": "2026-01-01T00:00:00Z"}',
        b'{"id": "1", "timestamp": "yesterday", "event": {}}',
    ],
)
def test_bad_context_changes_get_400_and_change_nothing(hub, topic, body):
    """FHIRcast 2-6: a rejected request gets 4xx; the current context is unchanged."""
    hub.publish(topic, "Patient-open", [patient()])
    before = hub.current(topic).json()
    response = hub.client.post("/hub", body, content_type="application/json", **hub.headers())
    assert response.status_code == 400 and response.content
    assert hub.current(topic).json() == before


def test_unsupported_content_type_is_415(hub):
    assert hub.client.post("/hub", b"x", content_type="text/plain", **hub.headers()).status_code == 415


def test_oversized_body_is_413(hub, topic, settings):
    """FHIRcast 2-10: a recipient that cannot take a too-large request answers 413."""
    settings.FHIRCAST_HUB = {"MAX_BODY_BYTES": 100}
    assert hub.publish(topic, "Patient-open", [patient("x" * 200)]).status_code == 413


def test_update_select_close_of_a_report_that_is_not_open_is_409(hub, topic):
    """IHE IRA RAD-148/150/151: 409 Conflict for a context that is not open."""
    update = {"resourceType": "Bundle", "id": "b", "type": "transaction", "entry": []}
    ref = {"key": "report", "reference": {"reference": "DiagnosticReport/rep-1"}}
    assert (
        hub.publish(
            topic,
            "DiagnosticReport-update",
            [ref, {"key": "updates", "resource": update}],
            **{"context.versionId": "v"},
        ).status_code
        == 409
    )
    assert (
        hub.publish(topic, "DiagnosticReport-select", [ref, {"key": "select", "reference": []}]).status_code
        == 409
    )
    assert hub.publish(topic, "DiagnosticReport-close", [report(), patient()]).status_code == 409


def test_stale_update_is_refused_over_http(hub, topic):
    """FHIRcast 2-10: updates are checked against the current versionId, atomically."""
    opened = hub.publish(topic, "DiagnosticReport-open", [report(), patient()]).json()["event"]["event"]
    version = opened["context.versionId"]
    ref = {"key": "report", "reference": {"reference": "DiagnosticReport/rep-1"}}
    bundle = {
        "resourceType": "Bundle",
        "id": "b",
        "type": "transaction",
        "entry": [
            {
                "request": {"method": "PUT", "url": "Observation/o1"},
                "resource": {"resourceType": "Observation", "id": "o1"},
            }
        ],
    }
    first = hub.publish(
        topic,
        "DiagnosticReport-update",
        [ref, {"key": "updates", "resource": bundle}],
        **{"context.versionId": version},
    )
    assert first.status_code == 202
    assert first.json()["event"]["event"]["context.priorVersionId"] == version
    stale = hub.publish(
        topic,
        "DiagnosticReport-update",
        [ref, {"key": "updates", "resource": bundle}],
        **{"context.versionId": version},
    )
    assert stale.status_code == 409
    assert (
        hub.current(topic).json()["context.versionId"] == first.json()["event"]["event"]["context.versionId"]
    )


def test_a_retried_event_id_is_acknowledged_once(hub, topic):
    """IHE IRA RAD-151: a sender retrying reuses event.id so the hub detects the duplicate."""
    first = hub.publish(topic, "Patient-open", [patient()], id="same-id")
    again = hub.publish(topic, "Patient-open", [patient()], id="same-id")
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    assert Topic.objects.get(name=topic).sequence == 1


def test_session_discovery_lists_only_the_callers_sessions(
    hub, topic, users, backend_token, client, settings
):
    """Vendor extension GET {hub}/session?user=&workstation= (FHIRcast defines none)."""
    Topic.objects.create(user=users["other"], workstation="ws-9")
    rows = hub.client.get("/hub/session", **hub.headers()).json()["sessions"]
    assert [r["hub.topic"] for r in rows] == [topic]
    assert rows[0]["hub.url"] == "http://testserver/hub"
    assert hub.client.get("/hub/session?user=other", **hub.headers()).json()["sessions"] == []
    client_id, token = backend_token()
    settings.FHIRCAST_HUB = {"TRUSTED_BACKEND_CLIENTS": [client_id]}
    found = client.get(
        "/hub/session?user=other&workstation=ws-9", HTTP_AUTHORIZATION=f"Bearer {token}"
    ).json()
    assert [r["workstation"] for r in found["sessions"]] == ["ws-9"]
    assert client.get("/hub/session").status_code == 401


def test_cors_is_configurable(hub, topic, settings):
    settings.FHIRCAST_HUB = {"CORS_ALLOWED_ORIGINS": ["https://viewer.example"]}
    preflight = hub.client.options("/hub", HTTP_ORIGIN="https://viewer.example")
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "https://viewer.example"
    assert "Authorization" in preflight["Access-Control-Allow-Headers"]
    other = hub.client.options("/hub", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in other


def test_system_checks_report_bad_settings(settings):
    from fhircast_hub.checks import check_settings

    settings.FHIRCAST_HUB = {
        "DEFAULT_LEASE_SECONDS": 100,
        "MAX_LEASE_SECONDS": 10,
        "NOPE": 1,
        "CHANNEL_LAYER_ALIAS": "x",
    }
    ids = {problem.id for problem in check_settings(None)}
    assert {"fhircast_hub.E002", "fhircast_hub.E004", "fhircast_hub.E005"} <= ids
