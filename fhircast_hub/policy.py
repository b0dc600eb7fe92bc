"""Who may use a topic: the default ``FHIRCAST_HUB["TOPIC_ACCESS_POLICY"]``."""

from .conf import hub_settings


def can_use_topic(token: dict, topic) -> bool:
    """A user token may use the topics of its user; a backend token (no username) may use any
    topic when its client is listed in TRUSTED_BACKEND_CLIENTS."""
    username = token.get("username")
    if username:
        return topic.user is not None and topic.user.get_username() == username
    trusted = hub_settings.TRUSTED_BACKEND_CLIENTS
    return "*" in trusted or token.get("client_id") in trusted
