"""A subscription ends with the grant that authorized it (fail closed): revoking the refresh token
or the access token (RFC 7009 §2.1: "the token cannot be used again after the revocation") stops
the events at once. The Hub unsubscribes with a denial and closes the socket (FHIRcast 2-4). A
refresh rotation, which also retires the old access token, keeps the subscription."""

from urllib.parse import urlencode

import pytest

from fhircast_hub.models import Subscription
from fhircast_hub.subscriptions import REVOKED_REASON
from smart_auth import grants
from tests.conftest import FORM, token_post

from .conftest import HUB_SCOPES, Hub, Socket, call, patient, subscribed


pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lasting(flow, users):
    """A second authorization of the same clinician (same session topic), with a refresh token."""
    response = flow.run(HUB_SCOPES + " offline_access", users["clinician"])
    assert response.status_code == 200, response.content
    issued = response.json()
    assert issued.get("refresh_token")
    return issued


def revoke(client, application, token):
    data = {"token": token, "client_id": application.client_id}
    response = client.post("/o/revoke_token/", urlencode(data), content_type=FORM)
    assert response.status_code == 200, response.content


def refresh_form(issued, application):
    return {
        "grant_type": "refresh_token",
        "refresh_token": issued["refresh_token"],
        "client_id": application.client_id,
    }


def endpoint_id(endpoint_url):
    return endpoint_url.rstrip("/").rsplit("/", 1)[-1]


async def assert_denied_and_closed(socket):
    denial = await socket.frame()
    assert denial["hub.mode"] == "denied" and denial["hub.reason"] == REVOKED_REASON, denial
    assert (await socket.closed())[0]


@pytest.mark.asyncio
async def test_revoking_the_refresh_token_ends_the_subscription_before_the_next_event(
    hub, topic, lasting, public_client
):
    leaving_hub = Hub(hub.client, lasting["access_token"])
    leaving, endpoint, _ = await subscribed(leaving_hub, topic, "Patient-open")
    staying, _, _ = await subscribed(hub, topic, "Patient-open")
    await call(revoke, hub.client, public_client, lasting["refresh_token"])

    response = await call(hub.publish, topic, "Patient-open", [patient()])
    assert response.status_code == 202, response.content
    await assert_denied_and_closed(leaving)  # the denial, never the event
    assert (await staying.frame())["event"]["hub.event"] == "Patient-open"
    assert not (await Subscription.objects.aget(endpoint=endpoint_id(endpoint))).active
    await staying.close()


@pytest.mark.asyncio
async def test_revoking_an_access_token_without_refresh_ends_its_subscription(
    hub, topic, lasting, public_client
):
    publisher = Hub(hub.client, lasting["access_token"])
    leaving, endpoint, _ = await subscribed(hub, topic, "Patient-open")  # a token with no refresh
    await call(revoke, hub.client, public_client, hub.token)

    response = await call(publisher.publish, topic, "Patient-open", [patient()])
    assert response.status_code == 202, response.content
    await assert_denied_and_closed(leaving)
    assert not (await Subscription.objects.aget(endpoint=endpoint_id(endpoint))).active


@pytest.mark.asyncio
async def test_a_refresh_rotation_keeps_the_subscription(hub, topic, lasting, public_client):
    subscriber = Hub(hub.client, lasting["access_token"])
    socket, endpoint, _ = await subscribed(subscriber, topic, "Patient-open")
    data = refresh_form(lasting, public_client)
    refreshed = await call(token_post, hub.client, data)
    assert refreshed.status_code == 200, refreshed.content
    assert refreshed.json()["access_token"] != lasting["access_token"]

    response = await call(hub.publish, topic, "Patient-open", [patient()])
    assert response.status_code == 202, response.content
    event = await socket.frame()
    assert event["event"]["hub.event"] == "Patient-open"
    await socket.ack(event["id"])
    assert (await Subscription.objects.aget(endpoint=endpoint_id(endpoint))).active

    # ... until the rotated refresh token is revoked in its turn.
    await call(revoke, hub.client, public_client, refreshed.json()["refresh_token"])
    response = await call(hub.publish, topic, "Patient-open", [patient("pat-2")])
    assert response.status_code == 202, response.content
    await assert_denied_and_closed(socket)


@pytest.mark.asyncio
async def test_a_revoked_grant_cannot_open_its_socket(hub, topic, lasting, public_client):
    subscriber = Hub(hub.client, lasting["access_token"])
    response = await call(subscriber.subscribe, topic, "Patient-open")
    assert response.status_code == 202, response.content
    endpoint = response.json()["hub.channel.endpoint"]
    await call(revoke, hub.client, public_client, lasting["refresh_token"])

    socket = await Socket(endpoint).open()
    denial = await socket.frame()
    assert denial["hub.mode"] == "denied" and denial["hub.reason"] == REVOKED_REASON, denial
    assert (await socket.closed())[0]
    assert not (await Subscription.objects.aget(endpoint=endpoint_id(endpoint))).active


def test_grants_name_the_family_or_the_token(hub, lasting):
    family = grants.grant_of(lasting["access_token"])
    single = grants.grant_of(hub.token)
    assert family.family is not None and family.token_checksum == ""
    assert single.family is None and len(single.token_checksum) == 64
    for value in ("", "lt_launch-token", "not-a-token"):
        assert grants.grant_of(value) is None


def test_a_checksum_that_names_no_token_counts_as_revoked(hub, topic):
    """Fail closed: a recorded grant the authorization server does not know is not standing."""
    response = hub.subscribe(topic, "Patient-open")
    assert response.status_code == 202, response.content
    subscription = Subscription.objects.get(endpoint=endpoint_id(response.json()["hub.channel.endpoint"]))
    def revoked():
        return list(Subscription.objects.filter(grants.revoked_condition("grant_family", "grant_token")))

    assert revoked() == []
    Subscription.objects.filter(pk=subscription.pk).update(grant_token="0" * 64)
    assert revoked() == [subscription]
    Subscription.objects.filter(pk=subscription.pk).update(grant_token="")  # no grant recorded
    assert revoked() == []


@pytest.mark.asyncio
async def test_a_replayed_refresh_token_ends_the_subscription(hub, topic, lasting, public_client):
    """RFC 9700 §4.14.2: a refresh token used twice revokes its family; the stolen token's holder
    and the app alike lose what the family authorized, the subscription included."""
    subscriber = Hub(hub.client, lasting["access_token"])
    socket, _, _ = await subscribed(subscriber, topic, "Patient-open")
    data = refresh_form(lasting, public_client)
    assert (await call(token_post, hub.client, data)).status_code == 200
    replay = await call(token_post, hub.client, data)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"

    response = await call(hub.publish, topic, "Patient-open", [patient()])
    assert response.status_code == 202, response.content
    await assert_denied_and_closed(socket)


@pytest.mark.asyncio
async def test_revoking_the_access_token_alone_ends_a_subscription_with_a_refresh_token(
    hub, topic, lasting, public_client
):
    """The refresh token is then an orphan that cannot be refreshed: the grant is gone."""
    subscriber = Hub(hub.client, lasting["access_token"])
    socket, _, _ = await subscribed(subscriber, topic, "Patient-open")
    await call(revoke, hub.client, public_client, lasting["access_token"])
    data = refresh_form(lasting, public_client)
    assert (await call(token_post, hub.client, data)).status_code == 400

    response = await call(hub.publish, topic, "Patient-open", [patient()])
    assert response.status_code == 202, response.content
    await assert_denied_and_closed(socket)
