"""FHIR R4 REST interactions over DRF (the interactions themselves are in ``interactions.py``)."""

from __future__ import annotations

import functools

from django.http import HttpResponse
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import MethodNotAllowed, NotFound
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import ViewSet

from ..capability import capability_statement
from ..conf import fhir_settings
from ..search import SearchError
from ..urls_util import fhir_base_url
from . import interactions
from .authentication import SmartTokenAuthentication
from .exceptions import fhir_exception_handler
from .interactions import check_type, live_entry, search_bundle
from .parsers import FhirJsonParser, JsonPatchParser, PlainJsonParser, SearchFormParser
from .permissions import SmartScopePermission
from .renderers import FhirContentNegotiation, FhirJsonRenderer, PlainJsonRenderer, RawJson, shortcut_renderer


ACTION_INTERACTIONS = {
    "read": "read",
    "vread": "vread",
    "history": "history-instance",
    "history_type": "history-type",
    "search": "search-type",
    "compartment": "search-type",
    "create": "create",
    "update": "update",
    "conditional_update": "update",
    "patch": "patch",
    "delete": "delete",
    "conditional_delete": "delete",
}
WRITE_ACTIONS = {"create", "update", "conditional_update", "patch", "delete", "conditional_delete"}
FHIR_JSON_CONTENT_TYPE = f"{FhirJsonRenderer.media_type}; charset={FhirJsonRenderer.charset}"


class _LeanView:
    """What the permission classes read from a view, for the lean path (no ViewSet instance)."""

    __slots__ = ("interaction", "kwargs")

    def __init__(self, interaction, kwargs):
        self.interaction = interaction
        self.kwargs = kwargs


class FhirAPIMixin:
    """Explicit DRF policies, independent of the project's REST_FRAMEWORK settings."""

    renderer_classes = [FhirJsonRenderer, PlainJsonRenderer]
    parser_classes = [FhirJsonParser, PlainJsonParser, JsonPatchParser, SearchFormParser]
    content_negotiation_class = FhirContentNegotiation
    throttle_classes = []
    versioning_class = None

    def get_exception_handler(self):
        return fhir_exception_handler

    def get_authenticate_header(self, request):
        return SmartTokenAuthentication().authenticate_header(request)


class ResourceViewSet(FhirAPIMixin, ViewSet):
    authentication_classes = [SmartTokenAuthentication]
    permission_classes = [SmartScopePermission]

    @property
    def interaction(self):
        return ACTION_INTERACTIONS.get(self.action)

    @property
    def allowed_methods(self):
        # For the Allow header of every response: the route's methods, without probing every
        # HTTP verb with hasattr() as View._allowed_methods() does.
        return [method.upper() for method in self.action_map] + ["OPTIONS"]

    # GET interactions answered by the lean path (see _lean_view); empty: everything through DRF.
    lean_actions = frozenset({"read", "search"})

    @classmethod
    def as_view(cls, actions=None, **initkwargs):
        view = csrf_exempt(super().as_view(actions, **initkwargs))
        action = (actions or {}).get("get")
        if (
            action not in ("read", "search")
            or initkwargs
            or cls.throttle_classes
            or list(cls.authentication_classes) != [SmartTokenAuthentication]
            or list(cls.permission_classes) != [SmartScopePermission]
        ):
            return view  # customised views keep the whole DRF machinery
        return cls._lean_view(view, action, actions)

    @classmethod
    def _lean_view(cls, view, action, actions):
        """Read and search without DRF's per-request machinery (about 60 us of a ~100 us read).

        The same checks run in the same order as ``initial()`` + the handler: resource type,
        SmartTokenAuthentication, SmartScopePermission (type, then object), RESOURCE_FILTERS.
        Anything out of the ordinary (another method, Accept or _format needing negotiation, no
        token, a refused permission) goes to the DRF view; an exception raised here is handed to
        it so DRF's own handle_exception/finalize_response build the OperationOutcome.
        """
        interaction = ACTION_INTERACTIONS[action]
        methods = list(actions) + (["head"] if "get" in actions and "head" not in actions else [])
        # Headers DRF's finalize_response adds (default_response_headers), computed once.
        allow = ", ".join([m.upper() for m in methods] + ["OPTIONS"])

        def lean(request, *args, **kwargs):
            if (
                request.method != "GET"
                or action not in cls.lean_actions
                or shortcut_renderer(request) is not FhirJsonRenderer
            ):
                return view(request, *args, **kwargs)
            try:
                response = cls._lean_response(request, action, interaction, kwargs)
            except Exception as exc:
                request._fhir_lean_exception = exc
                return view(request, *args, **kwargs)
            if response is None:
                return view(request, *args, **kwargs)
            response.headers["Vary"] = "Accept"
            response.headers["Allow"] = allow
            return response

        return functools.wraps(view)(lean)

    @classmethod
    def _lean_response(cls, request, action, interaction, kwargs):
        fhir_base_url(request)
        resource_type = kwargs.get("resource_type")
        check_type(resource_type)
        user_auth = SmartTokenAuthentication().authenticate(request)
        if user_auth is None:
            return None  # no token: DRF answers 401 with its usual headers
        request.user, request.auth = user_auth  # as DRF's Request sets them on the HttpRequest
        permission, view = SmartScopePermission(), _LeanView(interaction, kwargs)
        if not permission.has_permission(request, view):
            return None
        if action == "read":
            entry = live_entry(resource_type, kwargs["resource_id"])
            if not permission.has_object_permission(request, view, entry):
                return None
            response = HttpResponse(entry.text.encode("utf-8"), content_type=FHIR_JSON_CONTENT_TYPE)
            response.headers["ETag"] = f'W/"{entry.version_id}"'
            return response
        params = {k: request.GET.getlist(k) for k in request.GET}
        lenient = interactions.prefers_lenient(request.headers)
        text = search_bundle(request.auth, request.fhir_base, resource_type, params, lenient)
        return HttpResponse(text.encode("utf-8"), content_type=FHIR_JSON_CONTENT_TYPE)

    def dispatch(self, request, *args, **kwargs):
        exc = request.__dict__.pop("_fhir_lean_exception", None)
        if exc is None:
            return super().dispatch(request, *args, **kwargs)
        # The lean path raised: answer as APIView.dispatch does for an exception in initial().
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        self.format_kwarg = self.get_format_suffix(**kwargs)
        # What initial() would have set: finalize_response and DRF's error paths read it.
        request.accepted_renderer, request.accepted_media_type = self.perform_content_negotiation(
            request, force=True
        )
        response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    def initial(self, request, *args, **kwargs):
        fhir_base_url(request)
        method = request.method.lower()
        if method not in self.action_map and method != "options":
            # APIView.dispatch would call our same-named action (delete, patch, update) as the
            # handler of a method this route does not map: a TypeError, not a 405.
            raise MethodNotAllowed(request.method)
        check_type(kwargs.get("resource_type"))
        if self.action in WRITE_ACTIONS and fhir_settings.READ_ONLY:
            raise MethodNotAllowed(request.method, "This server is read-only")
        super().initial(request, *args, **kwargs)

    @property
    def ctx(self):
        lenient = interactions.prefers_lenient(self.request.headers)
        return interactions.Context(self.request.auth, self.request.fhir_base, lenient)

    def _if_match(self):
        return interactions.version_from_etag(self.request.headers.get("If-Match"))

    def _criteria(self):
        return {k: self.request.query_params.getlist(k) for k in self.request.query_params}

    # --- reads ---------------------------------------------------------------------------------
    def read(self, request, resource_type, resource_id):
        return self._respond(interactions.read(self.ctx, resource_type, resource_id))

    def vread(self, request, resource_type, resource_id, version_id):
        return self._respond(interactions.vread(self.ctx, resource_type, resource_id, version_id))

    def history(self, request, resource_type, resource_id):
        return self._respond(interactions.history_instance(self.ctx, resource_type, resource_id))

    def history_type(self, request, resource_type):
        return self._respond(interactions.history_type(self.ctx, resource_type, self._criteria()))

    def search(self, request, resource_type):
        params = self._criteria()
        if request.method == "POST":
            if request.content_type.split(";")[0].strip() != "application/x-www-form-urlencoded":
                raise SearchError("POST _search takes application/x-www-form-urlencoded parameters")
            for key in request.data:
                params.setdefault(key, []).extend(request.data.getlist(key))
        return self._respond(interactions.search(self.ctx, resource_type, params))

    def compartment(self, request, resource_type, resource_id):
        outcome = interactions.compartment_search(self.ctx, resource_id, resource_type, self._criteria())
        return self._respond(outcome)

    # --- writes --------------------------------------------------------------------------------
    def create(self, request, resource_type):
        # If-None-Exist (FHIR R4); criteria in the query string are read the same way, as
        # clients such as fhirpy send them (POST [base]/Type?identifier=...).
        in_url = {k: v for k, v in self._criteria().items() if k not in ("_format", "_pretty")}
        criteria = request.headers.get("If-None-Exist") or in_url or None
        outcome = interactions.create(self.ctx, resource_type, request.data, if_none_exist=criteria)
        return self._respond(outcome)

    def update(self, request, resource_type, resource_id):
        outcome = interactions.update(self.ctx, resource_type, resource_id, request.data, self._if_match())
        return self._respond(outcome)

    def conditional_update(self, request, resource_type):
        outcome = interactions.conditional_update(self.ctx, resource_type, self._criteria(), request.data)
        return self._respond(outcome)

    def patch(self, request, resource_type, resource_id):
        outcome = interactions.patch(self.ctx, resource_type, resource_id, request.data, self._if_match())
        return self._respond(outcome)

    def delete(self, request, resource_type, resource_id):
        return self._respond(interactions.delete(self.ctx, resource_type, resource_id, self._if_match()))

    def conditional_delete(self, request, resource_type):
        return self._respond(interactions.conditional_delete(self.ctx, resource_type, self._criteria()))

    def _respond(self, outcome):
        if outcome.text is not None:
            return Response(RawJson(outcome.text), status=outcome.status)
        entry = outcome.entry
        if entry is None:
            return Response(status=outcome.status)
        response = Response(RawJson(entry.text), status=outcome.status)
        for name, value in resource_headers(self.request.fhir_base, entry, outcome.location).items():
            response[name] = value
        return response


def resource_headers(base, entry, location=False) -> dict:
    """ETag, Last-Modified (when the storage gave the time without decoding the resource: writes
    and vread; the lean read does not pay for it) and, for a new resource, Location."""
    headers = {"ETag": f'W/"{entry.version_id}"'}
    if entry.last_modified is not None:
        headers["Last-Modified"] = http_date(entry.last_modified.timestamp())
    if location:
        headers["Location"] = f"{base}/{entry.resource_type}/{entry.resource_id}/_history/{entry.version_id}"
    return headers


class CapabilityStatementView(FhirAPIMixin, APIView):
    """``GET [base]/metadata``: open to anyone (FHIR R4 §3.1.0.13)."""

    authentication_classes = []
    permission_classes = []

    def get(self, request):
        return Response(capability_statement(fhir_base_url(request), request))


class UnknownRouteView(FhirAPIMixin, APIView):
    """Any other path under the FHIR base: 404 as an OperationOutcome, whatever the method
    (FHIR R4 §3.1.0.4: errors are OperationOutcomes), never Django's text/html page."""

    authentication_classes = []
    permission_classes = []

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise NotFound(f"{request.path} is not an interaction or operation this server supports")
