"""``application/fhir+json`` (and ``application/json``) renderers and ``_format`` negotiation."""

import json

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer


class RawJson(str):
    """JSON text that is already serialized (a stored resource or a spliced Bundle)."""


class FhirJsonRenderer(BaseRenderer):
    media_type = "application/fhir+json"
    format = "json"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if isinstance(data, RawJson):
            return data.encode("utf-8")
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class PlainJsonRenderer(FhirJsonRenderer):
    media_type = "application/json"


JSON_FORMATS = {"json", "application/json", "application/fhir+json", "application/json+fhir"}


class FhirContentNegotiation(DefaultContentNegotiation):
    """``_format`` overrides Accept (FHIR R4 §3.1.0.1.9); XML is not offered."""

    def select_renderer(self, request, renderers, format_suffix=None):
        # Most requests carry no _format: skip building the QueryDict for them.
        has_format = "_format" in request._request.META.get("QUERY_STRING", "")
        requested = request.query_params.get("_format") if has_format else None
        if requested is not None:
            if requested.replace(" ", "+") not in JSON_FORMATS:
                raise NotAcceptable(f"_format={requested!r} is not supported (use json)")
            return renderers[0], renderers[0].media_type
        accept = request.META.get("HTTP_ACCEPT", "")
        if not accept or "fhir+json" in accept or "*/*" in accept:
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)


def shortcut_renderer(request):
    """FhirJsonRenderer when FhirContentNegotiation would pick it without negotiating (no
    ``_format``; Accept absent, ``*/*`` or fhir+json), else None. Used by the lean read/search."""
    meta = request.META
    if "_format" in meta.get("QUERY_STRING", ""):
        return None
    accept = meta.get("HTTP_ACCEPT", "")
    if not accept or "fhir+json" in accept or "*/*" in accept:
        return FhirJsonRenderer
    return None
