"""Hub state kept in the database (never only in the channel layer): topics with their context,
and WebSocket subscriptions with their leases."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def new_topic_name():
    return secrets.token_urlsafe(32)


def new_endpoint_id():
    # FHIRcast 2-4: the endpoint SHALL be cryptographically random, unique and unguessable.
    return secrets.token_urlsafe(32)


class Topic(models.Model):
    """A FHIRcast session (hub.topic): one user's context, shared by its subscribers."""

    name = models.CharField(max_length=100, unique=True, default=new_topic_name)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="fhircast_topics",
    )
    workstation = models.CharField(max_length=200, blank=True)
    state = models.JSONField(default=dict, blank=True)
    sequence = models.BigIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["user", "workstation"])]

    def __str__(self):
        return f"{self.user or 'system'} @ {self.workstation or '-'}"

    @property
    def group_name(self):
        return topic_group(self.name)


class SubscriptionQuerySet(models.QuerySet):
    def live(self):
        return self.filter(active=True, lease_expires__gt=timezone.now())


class Subscription(models.Model):
    """One WebSocket subscription; the endpoint id authorizes the socket (FHIRcast 4-3)."""

    endpoint = models.CharField(max_length=100, unique=True, default=new_endpoint_id)
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="subscriptions")
    events = models.JSONField(default=list)
    subscriber_name = models.CharField(max_length=200, blank=True)
    client_id = models.CharField(max_length=200, blank=True)
    username = models.CharField(max_length=150, blank=True)
    # The grant of the token that made or last renewed it (smart_auth.grants): the subscription
    # ends when that grant is revoked. Empty for subscriptions older than these fields; the
    # database default lets a process of the previous version still subscribe mid-upgrade.
    grant_family = models.UUIDField(null=True, blank=True)
    grant_token = models.CharField(max_length=64, blank=True, default="", db_default="")
    lease_expires = models.DateTimeField()
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["topic", "active"])]

    def __str__(self):
        return f"{self.subscriber_name or self.client_id} on {self.topic_id}"

    @property
    def group_name(self):
        return endpoint_group(self.endpoint)

    def lease_seconds(self):
        return max(0, int((self.lease_expires - timezone.now()).total_seconds()))


def _hashed(prefix, value):
    # Channels group names: ASCII alphanumerics, "-", "_" and "." only, under 100 characters.
    return f"{prefix}.{hashlib.sha256(value.encode()).hexdigest()[:40]}"


def topic_group(topic_name):
    return _hashed("fhircast.topic", topic_name)


def endpoint_group(endpoint):
    return _hashed("fhircast.sub", endpoint)
