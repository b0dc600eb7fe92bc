"""HTTP side of the hub: discovery, subscriptions, context changes, current context, sessions."""

from django.views.decorators.http import require_http_methods

from . import subscriptions
from .auth import HubHttpError, authenticate, require_any_read, require_event_access, topic_for
from .conf import hub_settings
from .context import current_context
from .events import CATALOG, validate_notification
from .http import hub_endpoint, json_response, read_body
from .models import Subscription, Topic
from .publishing import publish
from .urls_helpers import hub_url


@hub_endpoint
@require_http_methods(["GET", "OPTIONS"])
def configuration(request):
    """``.well-known/fhircast-configuration`` (FHIRcast 2-7); no token needed."""
    return json_response(
        {
            "eventsSupported": sorted(CATALOG),
            "websocketSupport": True,
            "webhookSupport": False,
            "fhircastVersion": hub_settings.FHIRCAST_VERSION,
            "fhirVersion": hub_settings.FHIR_VERSION,
            "getCurrentSupport": True,
            "capabilities": {"supportsGetCurrentContext": True, "supportsNonCurrentContextUpdates": True},
        }
    )


@hub_endpoint
@require_http_methods(["POST", "OPTIONS"])
def hub(request):
    """``POST {hub.url}``: a subscription request (form or JSON with hub.mode) or a context
    change (JSON with event)."""
    token = authenticate(request)  # first: an unauthenticated body is never parsed
    params = read_body(request)
    if "hub.mode" in params or "event" not in params:
        return json_response(subscriptions.handle(request, token, params), status=202)
    return _context_change(token, params)


@hub_endpoint
@require_http_methods(["GET", "POST", "OPTIONS"])
def topic(request, topic_name):
    """``GET {hub.url}/{topic}``: Get Current Context (FHIRcast 2-9); ``POST``: a context change
    addressed to the topic (the STU2 form)."""
    if request.method == "POST":
        token = authenticate(request)
        body = read_body(request)
        event = body.get("event")
        if isinstance(event, dict) and event.get("hub.topic") != topic_name:
            raise HubHttpError(400, "event.hub.topic does not match the topic in the URL.")
        return _context_change(token, body)
    token = authenticate(request)
    require_any_read(token)
    found = topic_for(token, topic_name)
    return json_response(current_context(found.state))


def _context_change(token, body):
    notification = validate_notification(body)
    require_event_access(token, [notification["event"]["hub.event"]], "write")
    outgoing, duplicate = publish(token, notification["event"]["hub.topic"], notification)
    return json_response({"success": True, "duplicate": duplicate, "event": outgoing}, status=202)


@hub_endpoint
@require_http_methods(["GET", "OPTIONS"])
def sessions(request):
    """``GET {hub.url}/session?user=&workstation=``: the sessions (topics) the caller may join.
    A vendor extension: FHIRcast defines no session query."""
    token = authenticate(request)
    require_any_read(token)
    queryset = Topic.objects.select_related("user").order_by("-created")
    if token.get("username"):
        queryset = queryset.filter(user__username=token["username"])
    if request.GET.get("user"):
        queryset = queryset.filter(user__username=request.GET["user"])
    if "workstation" in request.GET:
        queryset = queryset.filter(workstation=request.GET["workstation"])
    policy = hub_settings.TOPIC_ACCESS_POLICY
    url = hub_url(request)
    rows = []
    for found in queryset[:200]:
        if not policy(token, found):
            continue
        rows.append(
            {
                "hub.url": url,
                "hub.topic": found.name,
                "user": found.user.get_username() if found.user else None,
                "workstation": found.workstation,
                "subscribers": Subscription.objects.live().filter(topic=found).count(),
                "context.type": current_context(found.state)["context.type"],
            }
        )
    return json_response({"sessions": rows})
