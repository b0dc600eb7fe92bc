"""Who may use a topic: the default ``FHIRCAST_HUB["TOPIC_ACCESS_POLICY"]``."""

from .conf import hub_settings


def can_use_topic(token: dict, topic) -> bool:
    """A user token may use the topics of its user; a backend token (no username) may use any
    topic when its client is listed in TRUSTED_BACKEND_CLIENTS."""
    username = token.get("username")
    if username:
        return topic.user is not None and topic.user.get_username() == username
    if not is_backend_token(token):
        return False
    trusted = hub_settings.TRUSTED_BACKEND_CLIENTS
    return "*" in trusted or token.get("client_id") in trusted


def is_backend_token(token: dict) -> bool:
    """A client acting alone (SMART Backend Services): an access token whose subject is the
    client itself, with no user and no launch context (a launch-token is none of these)."""
    client_id = token.get("client_id")
    return (
        bool(client_id)
        and token.get("token_type", "Bearer") == "Bearer"
        and token.get("sub") == client_id
        and not any(token.get(k) for k in ("username", "patient", "fhirUser", "encounter"))
    )
