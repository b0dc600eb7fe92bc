"""Small HTTP helpers of the hub views: request bodies, plain-text errors and CORS."""

import functools
import logging

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from smart_auth.strict_json import JsonRejected, check_value, loads

from .auth import HubHttpError
from .conf import hub_settings
from .context import ContextConflict
from .events import EventError


log = logging.getLogger("fhircast_hub")

JSON_TYPES = ("application/json", "application/fhir+json")
FORM_TYPE = "application/x-www-form-urlencoded"


def content_type(request):
    return request.content_type.split(";")[0].strip().lower()


def read_body(request):
    """The body as a dict: JSON (application/json or fhir+json) or a form whose parameters
    appear at most once (FHIRcast 2-4)."""
    if len(request.body) > hub_settings.MAX_BODY_BYTES:
        raise HubHttpError(413, "The request body is too large.")
    kind = content_type(request)
    if kind in JSON_TYPES:
        try:
            body = loads(request.body, hub_settings.MAX_JSON_DEPTH)
        except JsonRejected as error:
            raise HubHttpError(400, f"The request body is not acceptable JSON: {error}.")
        if not isinstance(body, dict):
            raise HubHttpError(400, "The request body must be a JSON object.")
        return body
    if kind in (FORM_TYPE, "multipart/form-data"):
        try:
            fields = request.POST.lists()
        except RequestDataTooBig:
            raise HubHttpError(413, "The request body is too large.")
        except SuspiciousOperation:  # e.g. more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS
            raise HubHttpError(400, "The request form is not acceptable.")
        repeated = [key for key, values in fields if len(values) > 1]
        if repeated:
            raise HubHttpError(400, f"Parameters may appear only once: {', '.join(repeated)}.")
        body = request.POST.dict()
        try:
            check_value(body, hub_settings.MAX_JSON_DEPTH)
        except JsonRejected as error:
            raise HubHttpError(400, f"The request form is not acceptable: {error}.")
        return body
    raise HubHttpError(415, f"Unsupported Content-Type {kind!r}; use JSON or a form.")


def error_response(status, message, headers=None):
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def hub_endpoint(view):
    """CSRF-exempt (bearer tokens, no cookies), CORS as configured, errors as plain text."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method == "OPTIONS":
            response = HttpResponse(status=204)
            response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response["Access-Control-Max-Age"] = "600"
        else:
            try:
                response = view(request, *args, **kwargs)
            except HubHttpError as error:
                response = error_response(error.status, error.message, error.headers)
            except ContextConflict as error:
                response = error_response(409, str(error))
            except EventError as error:
                response = error_response(400, str(error))
            except Exception:
                # The traceback goes to the log; the client learns nothing of the internals.
                log.exception("Unexpected error answering a hub request")
                response = error_response(500, "Internal server error.")
        _add_cors(request, response)
        return response

    return csrf_exempt(wrapper)


def _add_cors(request, response):
    origin = request.headers.get("Origin")
    allowed = hub_settings.CORS_ALLOWED_ORIGINS
    if origin and ("*" in allowed or origin in allowed):
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = "WWW-Authenticate"
        response["Vary"] = "Origin"


def json_response(data, status=200):
    return JsonResponse(data, status=status, safe=False, json_dumps_params={"separators": (",", ":")})
