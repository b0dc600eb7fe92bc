"""System checks for fhircast_hub (ids ``fhircast_hub.E0xx`` / ``W0xx``, see docs/fhircast_hub.md)."""

from django.core.checks import Error, Warning, register


@register()
def check_settings(app_configs, **kwargs):
    from django.conf import settings

    from .conf import DEFAULTS

    problems = []
    user = getattr(settings, "FHIRCAST_HUB", {}) or {}
    if not isinstance(user, dict):
        return [Error("FHIRCAST_HUB must be a dict.", id="fhircast_hub.E001")]
    unknown = sorted(set(user) - set(DEFAULTS))
    if unknown:
        problems.append(Error(f"Unknown FHIRCAST_HUB keys: {', '.join(unknown)}.", id="fhircast_hub.E002"))
    conf = {**DEFAULTS, **user}
    numbers_ok = True
    for key in (
        "DEFAULT_LEASE_SECONDS",
        "MAX_LEASE_SECONDS",
        "ACK_TIMEOUT_SECONDS",
        "MAX_BODY_BYTES",
        "MAX_JSON_DEPTH",
    ):
        if not isinstance(conf[key], int | float) or conf[key] <= 0:
            numbers_ok = False
            problems.append(
                Error(f"FHIRCAST_HUB[{key!r}] must be a positive number.", id="fhircast_hub.E003")
            )
    if numbers_ok and conf["DEFAULT_LEASE_SECONDS"] > conf["MAX_LEASE_SECONDS"]:
        problems.append(
            Error("FHIRCAST_HUB['DEFAULT_LEASE_SECONDS'] exceeds MAX_LEASE_SECONDS.", id="fhircast_hub.E004")
        )
    layers = getattr(settings, "CHANNEL_LAYERS", {}) or {}
    if conf["CHANNEL_LAYER_ALIAS"] not in layers:
        problems.append(
            Error(
                f"CHANNEL_LAYERS has no {conf['CHANNEL_LAYER_ALIAS']!r} layer for the hub.",
                hint="Configure channels_redis (production) or the in-memory layer (one process).",
                id="fhircast_hub.E005",
            )
        )
    for key in ("TRUSTED_BACKEND_CLIENTS", "CORS_ALLOWED_ORIGINS"):
        if not isinstance(conf[key], list | tuple):
            problems.append(Error(f"FHIRCAST_HUB[{key!r}] must be a list.", id="fhircast_hub.E006"))
    for key in ("WEBSOCKET_ALLOWED_ORIGINS", "AUDIENCES"):
        if conf[key] is not None and not isinstance(conf[key], list | tuple):
            problems.append(Error(f"FHIRCAST_HUB[{key!r}] must be None or a list.", id="fhircast_hub.E006"))
    problems += _hook_problems(conf["TOPIC_ACCESS_POLICY"])
    problems += _layer_backend_problems(layers.get(conf["CHANNEL_LAYER_ALIAS"]))
    problems += _asgi_application_problems(getattr(settings, "ASGI_APPLICATION", None))
    problems += _redis_timeout_problems(layers.get(conf["CHANNEL_LAYER_ALIAS"], {}))
    contributors = (getattr(settings, "SMART_AUTH", {}) or {}).get("TOKEN_RESPONSE_CONTRIBUTORS", [])
    if "fhircast_hub.smart.token_response" not in contributors:
        problems.append(
            Warning(
                "Token responses will not carry hub.url/hub.topic.",
                hint="Add 'fhircast_hub.smart.token_response' to SMART_AUTH['TOKEN_RESPONSE_CONTRIBUTORS'].",
                id="fhircast_hub.W001",
            )
        )
    return problems


def _hook_problems(path):
    from django.utils.module_loading import import_string

    try:
        hook = import_string(path) if isinstance(path, str) else path
    except ImportError as exc:
        return [
            Error(
                f"FHIRCAST_HUB['TOPIC_ACCESS_POLICY']: cannot import {path!r} ({exc}).",
                id="fhircast_hub.E009",
            )
        ]
    if not callable(hook):
        return [
            Error(f"FHIRCAST_HUB['TOPIC_ACCESS_POLICY']: {path!r} is not callable.", id="fhircast_hub.E009")
        ]
    return []


def _layer_backend_problems(layer):
    """Without this, a missing channels_redis shows only as 503s on publishing."""
    from django.utils.module_loading import import_string

    if not isinstance(layer, dict) or not layer.get("BACKEND"):
        return (
            []
            if layer is None
            else [Error("The hub's channel layer has no BACKEND.", id="fhircast_hub.E007")]
        )
    try:
        import_string(layer["BACKEND"])
    except ImportError as exc:
        hint = (
            "pip install 'django-smart-multiserver[redis]' (channels_redis)."
            if layer["BACKEND"].startswith("channels_redis")
            else None
        )
        return [
            Error(
                f"The hub's channel layer backend {layer['BACKEND']!r} cannot be imported ({exc}).",
                hint=hint,
                id="fhircast_hub.E007",
            )
        ]
    return []


def _asgi_application_problems(path):
    """ASGI_APPLICATION names the application runserver (daphne) serves; it must import."""
    from django.utils.module_loading import import_string

    if not path:
        return []
    try:
        import_string(path)
    except Exception as exc:  # noqa: BLE001 (any failure to import it is the check's finding)
        return [
            Error(
                f"ASGI_APPLICATION {path!r} cannot be imported ({exc}).",
                hint="Point it at the application in your asgi.py (README, step 5).",
                id="fhircast_hub.E008",
            )
        ]
    return []


def _redis_timeout_problems(layer):
    """channels_redis waits 5 s in BZPOPMIN; redis-py 8 also times sockets out after 5 s, so
    under load a consumer's receive fails and its socket is closed."""
    if not layer.get("BACKEND", "").startswith("channels_redis.core"):
        return []
    hosts = (layer.get("CONFIG") or {}).get("hosts") or []
    if all(isinstance(h, dict) and (h.get("socket_timeout") or 0) > 5 for h in hosts) and hosts:
        return []
    return [
        Warning(
            "channels_redis hosts without a socket_timeout above 5 s: receives can time out under load.",
            hint='Give each host as {"address": "redis://…", "socket_timeout": 30}.',
            id="fhircast_hub.W002",
        )
    ]
