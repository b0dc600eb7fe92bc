"""The hub's part when smart_auth switches a client off: that client's subscriptions end at once
(its tokens stop working, and a socket it already holds must not go on receiving context)."""

from django.db.models.signals import post_save


def connect():
    post_save.connect(
        _client_saved, sender="smart_auth.SmartClient", dispatch_uid="fhircast_hub_client_saved"
    )


def _client_saved(sender, instance, **kwargs):
    if instance.enabled:
        return
    from .subscriptions import end_client_subscriptions

    end_client_subscriptions(instance.application.client_id, "the client was disabled")
