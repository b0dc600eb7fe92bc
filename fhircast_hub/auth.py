"""Bearer-token authorization of hub requests through smart_auth's introspection."""

from smart_auth import scopes as smart_scopes
from smart_auth.introspection import introspect

from .conf import hub_settings
from .models import Topic


class HubHttpError(Exception):
    """An error answered to the client with ``status`` and a plain-text description."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def authenticate(request) -> dict:
    """The introspected token of the request's ``Authorization: Bearer`` header (FHIRcast 2-4)."""
    header = request.headers.get("Authorization", "")
    kind, _, value = header.partition(" ")
    if kind.lower() != "bearer" or not value.strip():
        raise HubHttpError(
            401, "A bearer access token is required.", {"WWW-Authenticate": 'Bearer realm="fhircast"'}
        )
    token = introspect(value.strip())
    if not token.get("active"):
        raise HubHttpError(
            401, "The access token is not active.", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    return token


def fhircast_scopes(token: dict) -> list:
    parsed = []
    for raw in smart_scopes.split(token.get("scope")):
        if raw == "fhircast":
            parsed.append(raw)
            continue
        try:
            scope = smart_scopes.parse_scope(raw)
        except smart_scopes.ScopeError:
            continue
        if isinstance(scope, smart_scopes.FhircastScope):
            parsed.append(scope)
    return parsed


def allows(token: dict, event_name: str, mode: str) -> bool:
    """Whether a granted FHIRcast scope lets the token ``mode`` (read/write) ``event_name``;
    the older bare ``fhircast`` scope allows everything."""
    for scope in fhircast_scopes(token):
        if scope == "fhircast" or scope.allows(event_name, mode):
            return True
    return False


def require_event_access(token: dict, event_names, mode: str) -> None:
    refused = [name for name in event_names if not allows(token, name, mode)]
    if refused:
        raise HubHttpError(403, f"The token's scopes do not allow {mode} of: {', '.join(refused)}.")


def topic_for(token: dict, topic_name: str, for_update=False) -> Topic:
    """The topic if the token may use it; 403 otherwise (an unknown topic looks the same, so
    topic names do not leak)."""
    queryset = Topic.objects.select_related("user")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    topic = queryset.filter(name=topic_name).first() if isinstance(topic_name, str) else None
    if topic is None or not hub_settings.TOPIC_ACCESS_POLICY(token, topic):
        raise HubHttpError(403, "This token may not use that hub.topic.")
    return topic
