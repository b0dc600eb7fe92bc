"""Bearer-token authorization of hub requests through smart_auth's introspection.

Every hub request needs an active access token whose audience names this hub (RFC 9068 §4,
RFC 8707) and a ``fhircast/`` scope for what it asks (FHIRcast 3.0 2-2). The hub only looks at
tokens: it never consumes one, so a single-use launch-token shown here is refused unread.
"""

from urllib.parse import urlsplit

from smart_auth import scopes as smart_scopes
from smart_auth.introspection import introspect

from .conf import hub_settings
from .models import Topic
from .urls_helpers import hub_url


# smart_auth's launch-tokens (multi-server approach B) start so; they are never access tokens.
LAUNCH_TOKEN_PREFIX = "lt_"


class HubHttpError(Exception):
    """An error answered to the client with ``status`` and a plain-text description."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def bearer_value(request) -> str:
    """The token of the request's ``Authorization: Bearer`` header, or ``""``."""
    kind, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if kind.lower() == "bearer" else ""


def authenticate(request) -> dict:
    """The introspected token of the request's ``Authorization: Bearer`` header (FHIRcast 2-4)."""
    value = bearer_value(request)
    if not value:
        raise HubHttpError(
            401, "A bearer access token is required.", {"WWW-Authenticate": 'Bearer realm="fhircast"'}
        )
    # Introspecting a launch-token would use it up (it is single-use): refuse it unread.
    token = {"active": False} if value.startswith(LAUNCH_TOKEN_PREFIX) else introspect(value)
    if not token.get("active") or token.get("token_type", "Bearer") != "Bearer":
        raise HubHttpError(
            401, "The access token is not active.", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    if not _audience_accepted(token, request):
        raise HubHttpError(
            401,
            "The access token was not issued for this hub (aud).",
            {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="wrong audience"'},
        )
    return token


def accepted_audiences(request) -> set[str]:
    """``AUDIENCES``, or by default the hub's URL and the governed FHIR bases of its own origin
    (a SMART app's token names the EHR's FHIR base, not the hub).

    The origin comes from configuration (HUB_URL, else the OIDC issuer) when there is one, not
    from the request's Host header, which a client chooses where ALLOWED_HOSTS lets it."""
    configured = hub_settings.AUDIENCES
    if configured is not None:
        return {_normalized(a) for a in configured}
    from oauth2_provider.settings import oauth2_settings

    from smart_auth.conf import smart_auth_settings

    url = hub_settings.HUB_URL or oauth2_settings.OIDC_ISS_ENDPOINT or hub_url(request)
    origin = urlsplit(url)[:2]
    same_origin = [b for b in smart_auth_settings.FHIR_BASE_URLS if urlsplit(b)[:2] == origin]
    hub = f"{origin[0]}://{origin[1]}{urlsplit(hub_url(request)).path}"
    return {_normalized(u) for u in [hub, *same_origin]}


def _audience_accepted(token, request) -> bool:
    aud = token.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    wanted = accepted_audiences(request)
    return any(isinstance(a, str) and _normalized(a) in wanted for a in audiences)


def _normalized(url: str) -> str:
    return url.rstrip("/")


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


def require_any_read(token: dict) -> None:
    """Reading a session's context (Get Current Context, session discovery) needs a
    ``fhircast/`` read scope for some event (or the older bare ``fhircast``)."""
    if not any(s == "fhircast" or s.mode in ("read", "*") for s in fhircast_scopes(token)):
        raise HubHttpError(403, "The token has no fhircast/ read scope.")


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
