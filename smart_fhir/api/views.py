"""FHIR R4 REST interactions over DRF: read, vread, history, search, create, update, delete."""

from __future__ import annotations

from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.exceptions import MethodNotAllowed, NotFound
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import ViewSet

from ..capability import capability_statement
from ..conf import fhir_settings
from ..enforcement import AccessDenied, check_entry, passes_filters, search_grants
from ..search import SearchError, parse_search
from ..storage import Entry, get_storage
from ..urls_util import fhir_base_url
from ..validation import InvalidResource, validate_resource
from . import bundles
from .authentication import SmartTokenAuthentication
from .exceptions import Gone, fhir_exception_handler
from .parsers import FhirJsonParser, PlainJsonParser, SearchFormParser
from .permissions import SmartScopePermission
from .renderers import FhirContentNegotiation, FhirJsonRenderer, PlainJsonRenderer, RawJson


ACTION_INTERACTIONS = {
    "read": "read",
    "vread": "vread",
    "history": "history-instance",
    "search": "search-type",
    "create": "create",
    "update": "update",
    "delete": "delete",
}
WRITE_ACTIONS = {"create", "update", "delete"}


class FhirAPIMixin:
    """Explicit DRF policies, independent of the project's REST_FRAMEWORK settings."""

    renderer_classes = [FhirJsonRenderer, PlainJsonRenderer]
    parser_classes = [FhirJsonParser, PlainJsonParser, SearchFormParser]
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

    @classmethod
    def as_view(cls, actions=None, **initkwargs):
        return csrf_exempt(super().as_view(actions, **initkwargs))

    def initial(self, request, *args, **kwargs):
        fhir_base_url(request)
        resource_type = kwargs.get("resource_type")
        if resource_type not in fhir_settings.RESOURCE_TYPES:
            raise NotFound(f"Resource type {resource_type!r} is not supported by this server")
        if self.action in WRITE_ACTIONS and fhir_settings.READ_ONLY:
            raise MethodNotAllowed(request.method, "This server is read-only")
        super().initial(request, *args, **kwargs)

    # --- reads ---------------------------------------------------------------------------------
    def read(self, request, resource_type, resource_id):
        entry = get_storage().read_entry(resource_type, resource_id)
        if entry is None:
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        if entry.deleted:
            raise Gone(f"{resource_type}/{resource_id} has been deleted")
        self.check_object_permissions(request, entry)
        return self._resource_response(entry)

    def vread(self, request, resource_type, resource_id, version_id):
        entry = get_storage().vread(resource_type, resource_id, version_id)
        if entry is None:
            raise NotFound(f"{resource_type}/{resource_id}/_history/{version_id} is not known")
        if entry.deleted:
            raise Gone(f"{resource_type}/{resource_id} was deleted in version {version_id}")
        self.check_object_permissions(request, entry)
        return self._resource_response(entry)

    def history(self, request, resource_type, resource_id):
        storage = get_storage()
        current = storage.read_entry(resource_type, resource_id)
        if current is None:
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        versions = storage.history(resource_type, resource_id)
        visible = [v for v in versions if v.deleted or _allowed(request.auth, "history-instance", v)]
        if versions and not any(not v.deleted for v in visible):
            raise AccessDenied(f"{resource_type}/{resource_id} is outside what the token grants")
        text = bundles.history(request.fhir_base, resource_type, resource_id, visible)
        return Response(RawJson(text))

    def search(self, request, resource_type):
        params = {k: request.query_params.getlist(k) for k in request.query_params}
        if request.method == "POST":
            if request.content_type.split(";")[0].strip() != "application/x-www-form-urlencoded":
                raise SearchError("POST _search takes application/x-www-form-urlencoded parameters")
            for key in request.data:
                params.setdefault(key, []).extend(request.data.getlist(key))
        lenient = "handling=lenient" in request.headers.get("Prefer", "").replace(" ", "")
        query = parse_search(
            resource_type, params, fhir_settings.DEFAULT_PAGE_SIZE, fhir_settings.MAX_PAGE_SIZE, lenient
        )
        grants = search_grants(request.auth, query)
        result = get_storage().run_search(query, grants)
        matches = result.entries
        if fhir_settings.RESOURCE_FILTERS:
            matches = [e for e in matches if passes_filters(request.auth, e)]
        included = [e for e in result.included if _allowed(request.auth, "read", e)]
        text = bundles.searchset(request.fhir_base, query, params, result, matches, included)
        return Response(RawJson(text))

    # --- writes --------------------------------------------------------------------------------
    def create(self, request, resource_type):
        body = validate_resource(resource_type, request.data)
        body = {k: v for k, v in body.items() if k != "id"}  # the server assigns ids on create
        check_entry(request.auth, "create", Entry(resource_type, "", _resource=body))
        entry = get_storage().create(resource_type, body)
        return self._resource_response(entry, status.HTTP_201_CREATED, location=True)

    def update(self, request, resource_type, resource_id):
        body = validate_resource(resource_type, request.data)
        if body.get("id") != resource_id:
            raise InvalidResource(f"The resource's id must be {resource_id!r} (the id in the URL)")
        storage = get_storage()
        current = storage.read_entry(resource_type, resource_id)
        if current is not None and not current.deleted:
            check_entry(request.auth, "update", current)
        check_entry(request.auth, "update", Entry(resource_type, resource_id, _resource=body))
        if_match = _version_from_etag(request.headers.get("If-Match"))
        entry, created = storage.update(resource_type, resource_id, body, if_match=if_match)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return self._resource_response(entry, code, location=created)

    def delete(self, request, resource_type, resource_id):
        storage = get_storage()
        current = storage.read_entry(resource_type, resource_id)
        if current is None:
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        if not current.deleted:
            check_entry(request.auth, "delete", current)
            storage.delete(resource_type, resource_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _resource_response(self, entry, code=status.HTTP_200_OK, location=False):
        response = Response(RawJson(entry.text), status=code)
        response["ETag"] = f'W/"{entry.version_id}"'
        if location:
            base = self.request.fhir_base
            response["Location"] = (
                f"{base}/{entry.resource_type}/{entry.resource_id}/_history/{entry.version_id}"
            )
        return response


def _allowed(access, interaction, entry) -> bool:
    try:
        check_entry(access, interaction, entry)
    except AccessDenied:
        return False
    return True


def _version_from_etag(value):
    if not value:
        return None
    return value.removeprefix("W/").strip('"')


class CapabilityStatementView(FhirAPIMixin, APIView):
    """``GET [base]/metadata``: open to anyone (FHIR R4 §3.1.0.13)."""

    authentication_classes = []
    permission_classes = []

    def get(self, request):
        return Response(capability_statement(fhir_base_url(request), request))
