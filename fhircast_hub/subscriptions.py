"""Subscribe, re-subscribe and unsubscribe requests (FHIRcast 2-4)."""

import time
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from smart_auth import grants
from smart_auth.compiled import CompiledQuery

from .auth import HubHttpError, bearer_value, require_any_read, require_event_access, topic_for
from .conf import hub_settings
from .events import EventError, parse_event_list
from .models import Subscription, endpoint_group
from .publishing import send_to_group
from .urls_helpers import websocket_url


def handle(request, token, params):
    mode = params.get("hub.mode")
    if mode not in ("subscribe", "unsubscribe"):
        raise HubHttpError(400, "hub.mode must be 'subscribe' or 'unsubscribe'.")
    channel_type = params.get("hub.channel.type")
    if not channel_type:
        raise HubHttpError(400, "hub.channel.type is required.")
    if str(channel_type).lower() != "websocket":
        raise HubHttpError(400, "Only hub.channel.type=websocket is supported (FHIRcast 3.0).")
    topic_name = params.get("hub.topic")
    if not topic_name or not isinstance(topic_name, str):
        raise HubHttpError(400, "hub.topic is required.")
    # Subscribing checks a read scope per event below; unsubscribing needs a read scope too.
    require_any_read(token)
    topic = topic_for(token, topic_name)
    endpoint = _endpoint_id(params.get("hub.channel.endpoint"))
    if mode == "unsubscribe":
        return _unsubscribe(request, topic, endpoint)
    return _subscribe(request, token, topic, endpoint, params)


def _endpoint_id(value):
    if not value:
        return None
    if not isinstance(value, str):
        raise HubHttpError(400, "hub.channel.endpoint must be a string.")
    return value.rstrip("/").rsplit("/", 1)[-1]


def _subscribe(request, token, topic, endpoint, params):
    try:
        events = parse_event_list(
            params.get("hub.events") if isinstance(params.get("hub.events"), str) else ""
        )
    except EventError as error:
        raise HubHttpError(400, str(error))
    require_event_access(token, events, "read")
    name = params.get("subscriber.name") or ""
    max_name = Subscription._meta.get_field("subscriber_name").max_length
    if not isinstance(name, str) or len(name) > max_name:  # PostgreSQL would refuse it with a 500
        raise HubHttpError(400, f"subscriber.name must be a string of at most {max_name} characters.")
    if hub_settings.REQUIRE_SUBSCRIBER_NAME and not name.strip():
        raise HubHttpError(400, "subscriber.name is required.")
    expires = timezone.now() + timedelta(seconds=_lease_seconds(params.get("hub.lease_seconds"), token))
    grant = grants.grant_of(bearer_value(request))
    if grant is None:  # revoked since it was introspected: nothing to tie the subscription to
        raise HubHttpError(
            401, "The access token is not active.", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    with transaction.atomic():
        if endpoint:
            subscription = _own_subscription(topic, endpoint, for_update=True)
            subscription.events, subscription.lease_expires = events, expires
            subscription.grant_family, subscription.grant_token = grant.family, grant.token_checksum
            subscription.subscriber_name = name or subscription.subscriber_name
            subscription.save(
                update_fields=["events", "lease_expires", "subscriber_name", "grant_family", "grant_token"]
            )
            transaction.on_commit(
                lambda: send_to_group(
                    subscription.group_name,
                    {
                        "type": "fhircast.resubscribe",
                        "events": events,
                        "lease_seconds": subscription.lease_seconds(),
                    },
                )
            )
        else:
            subscription = Subscription.objects.create(
                topic=topic,
                events=events,
                subscriber_name=name,
                client_id=token.get("client_id") or "",
                username=token.get("username") or "",
                grant_family=grant.family,
                grant_token=grant.token_checksum,
                lease_expires=expires,
            )
    return {"hub.channel.endpoint": websocket_url(subscription.endpoint, request)}


def _lease_seconds(requested, token):
    lease = hub_settings.DEFAULT_LEASE_SECONDS
    if requested not in (None, ""):
        # A JSON integer or a string of digits; never a float (1e400 is infinity) or a bool.
        text = str(requested).strip() if isinstance(requested, int | str) else ""
        if isinstance(requested, bool) or not text.lstrip("-").isdecimal() or len(text) > 30:
            raise HubHttpError(400, "hub.lease_seconds must be a whole number of seconds.")
        lease = int(text)
        if lease <= 0:
            raise HubHttpError(400, "hub.lease_seconds must be positive.")
    lease = min(lease, hub_settings.MAX_LEASE_SECONDS)
    if token.get("exp"):  # FHIRcast 2-4: the lease SHALL NOT outlive the access token
        lease = min(lease, max(1, int(token["exp"] - time.time())))
    return lease


def _own_subscription(topic, endpoint, for_update=False):
    queryset = Subscription.objects.live().filter(topic=topic, endpoint=endpoint)
    if for_update:
        queryset = queryset.select_for_update()
    subscription = queryset.first()
    if subscription is None:
        raise HubHttpError(400, "hub.channel.endpoint is not an active subscription of this hub.topic.")
    return subscription


def _unsubscribe(request, topic, endpoint):
    if not endpoint:
        raise HubHttpError(400, "hub.channel.endpoint is required to unsubscribe.")
    with transaction.atomic():
        subscription = _own_subscription(topic, endpoint, for_update=True)
        subscription.active = False  # FHIRcast 2-4: the endpoint SHALL NOT be reused
        subscription.save(update_fields=["active"])
        transaction.on_commit(
            lambda: send_to_group(
                subscription.group_name, {"type": "fhircast.unsubscribe", "reason": "unsubscribed"}
            )
        )
    return {"hub.channel.endpoint": websocket_url(subscription.endpoint, request)}


REVOKED_REASON = "the authorization was revoked"


def _grant_revoked():
    return grants.revoked_condition("grant_family", "grant_token")


# Runs on every publish: compiled once per connection (its subqueries cost more to compile
# than to run).
_REVOKED_ON_TOPIC = CompiledQuery(
    lambda topic_id: Subscription.objects.filter(topic_id=topic_id, active=True).filter(_grant_revoked()),
    -0x7E5EC,  # sentinel of the topic id
)


def end_revoked_subscriptions(topic):
    """End the live subscriptions of ``topic`` whose grant was revoked since they were made
    (smart_auth.grants), before an event goes out: deactivated, and each socket sent a denial
    and closed. A refresh rotation keeps its family's grant standing. Called with the topic
    row locked (``publishing.publish``); the denials go to the channel layer before the event,
    so a consumer has ended its subscription when the event reaches it. Returns the endpoints."""
    now = timezone.now()
    endpoints = [s.endpoint for s in _REVOKED_ON_TOPIC.all(topic.pk) if s.lease_expires > now]
    if endpoints:
        Subscription.objects.filter(endpoint__in=endpoints).update(active=False)
        for endpoint in endpoints:
            deny_socket(endpoint, REVOKED_REASON)
    return endpoints


def deny_socket(endpoint, reason):
    """Tell the socket of ``endpoint`` (in whichever hub process holds it) that its subscription
    ended: it sends the denial frame with ``reason`` and closes (FHIRcast 2-4)."""
    send_to_group(endpoint_group(endpoint), {"type": "fhircast.unsubscribe", "reason": reason})


def grant_revoked(subscription):
    """Whether the grant of ``subscription`` (a model instance) was revoked."""
    return Subscription.objects.filter(pk=subscription.pk).filter(_grant_revoked()).exists()


def end_client_subscriptions(client_id, reason):
    """End every live subscription of ``client_id`` now: deactivated in the database, and each
    socket sent a denial and closed (FHIRcast 2-4: the Hub may unsubscribe a subscriber at any
    time; ``hub.reason`` says why). Returns how many ended."""
    if not client_id:
        return 0
    with transaction.atomic():
        endpoints = list(
            Subscription.objects.live().filter(client_id=client_id).values_list("endpoint", flat=True)
        )
        Subscription.objects.filter(endpoint__in=endpoints).update(active=False)

        def close_sockets():
            for endpoint in endpoints:
                try:
                    deny_socket(endpoint, reason)
                except HubHttpError:  # logged there; the subscription is inactive all the same
                    pass

        transaction.on_commit(close_sockets)
    return len(endpoints)
