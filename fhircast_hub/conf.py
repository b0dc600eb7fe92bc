"""``FHIRCAST_HUB`` settings. Every key is documented in docs/fhircast_hub.md."""

from smart_auth.appsettings import AppSettings


DEFAULTS = {
    # Public URL of the hub (hub.url). None: derived from the request as <scheme>://<host>/hub.
    "HUB_URL": None,
    # Base of the WebSocket endpoints. None: HUB_URL with ws(s):// and the path /hub/ws/.
    "WEBSOCKET_URL": None,
    "CHANNEL_LAYER_ALIAS": "default",
    "FHIRCAST_VERSION": "3.0.0",
    "FHIR_VERSION": "R4",
    # Leases: requested hub.lease_seconds is capped by MAX and by the access token's expiry.
    "DEFAULT_LEASE_SECONDS": 3600,
    "MAX_LEASE_SECONDS": 86400,
    # Acknowledgements: a subscriber that does not answer an event within this time gets a
    # hub SyncError (FHIRcast 2-5) and, with UNSUBSCRIBE_UNRESPONSIVE, is unsubscribed.
    "ACK_TIMEOUT_SECONDS": 10,
    # False accepts {"id": ...} without "status" as success (@medplum/core sends no status).
    "ACK_STATUS_REQUIRED": False,
    "UNSUBSCRIBE_UNRESPONSIVE": True,
    # IHE IRA makes subscriber.name required (RAD-146: 400 when missing).
    "REQUIRE_SUBSCRIBER_NAME": False,
    # client_ids whose backend (client_credentials) tokens may use every topic; "*" for any.
    "TRUSTED_BACKEND_CLIENTS": [],
    # Hook deciding whether introspected token data may use a Topic.
    "TOPIC_ACCESS_POLICY": "fhircast_hub.policy.can_use_topic",
    # CORS for the HTTP endpoints ("*" allows any origin); Origin check for WebSockets
    # (None: no check; the unguessable endpoint is the credential, FHIRcast 4-3).
    "CORS_ALLOWED_ORIGINS": [],
    "WEBSOCKET_ALLOWED_ORIGINS": None,
    # Event ids remembered per topic to acknowledge retries without re-broadcasting them.
    "DUPLICATE_ID_WINDOW": 100,
    "MAX_BODY_BYTES": 1_000_000,
    # Deepest nesting of JSON arrays/objects accepted in a request or a WebSocket frame.
    "MAX_JSON_DEPTH": 64,
    # Token audiences (`aud`) the hub accepts. None: the hub URL and the SMART_AUTH
    # FHIR_BASE_URLS on the hub's own origin.
    "AUDIENCES": None,
}

IMPORT_STRINGS = ("TOPIC_ACCESS_POLICY",)

hub_settings = AppSettings("FHIRCAST_HUB", DEFAULTS, IMPORT_STRINGS)
