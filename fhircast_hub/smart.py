"""smart_auth integration: the token response of a FHIRcast grant names the hub and the topic."""

from urllib.parse import urlsplit

from .conf import hub_settings
from .models import Topic


def is_fhircast_scope(scope):
    return scope == "fhircast" or scope.startswith("fhircast/")


def session_topic(user, workstation=""):
    """The user's session topic, created on first use."""
    topic = Topic.objects.filter(user=user, workstation=workstation).order_by("-created").first()
    return topic or Topic.objects.create(user=user, workstation=workstation)


def token_response(request, token):
    """``SMART_AUTH["TOKEN_RESPONSE_CONTRIBUTORS"]`` entry: adds ``hub.url`` and ``hub.topic``
    (FHIRcast 2-1) and the older ``cast-hub`` / ``cast-session`` names."""
    user = getattr(request, "user", None)
    if not user or not getattr(user, "is_authenticated", False):
        return {}
    if not any(is_fhircast_scope(scope) for scope in (request.scopes or [])):
        return {}
    url = _hub_url(request)
    topic = session_topic(user).name
    return {"hub.url": url, "hub.topic": topic, "cast-hub": url, "cast-session": topic}


def _hub_url(request):
    from django.urls import reverse

    if hub_settings.HUB_URL:
        return hub_settings.HUB_URL.rstrip("/")
    from smart_auth.hooks import issuer_for

    parts = urlsplit(issuer_for(request))  # the deployment's own origin, as the issuer names it
    return f"{parts.scheme}://{parts.netloc}{reverse('fhircast_hub:hub')}"
