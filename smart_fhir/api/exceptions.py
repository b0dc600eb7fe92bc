"""Every error as an OperationOutcome with the right status (DRF exception handler)."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from ..enforcement import AccessDenied, HiddenByFilter
from ..search import SearchError
from ..storage import StorageError
from ..tokens import AuthorizationServerUnavailable, InvalidToken
from ..validation import InvalidResource


log = logging.getLogger("smart_fhir")


def operation_outcome(code: str, diagnostics: str | list[str], severity: str = "error") -> dict:
    messages = diagnostics if isinstance(diagnostics, list) else [diagnostics]
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": str(m)} for m in messages],
    }


class FhirAuthenticationFailed(exceptions.AuthenticationFailed):
    """401 for a bad token; carries the RFC 6750 error code for the WWW-Authenticate header."""

    def __init__(self, detail, error="invalid_token"):
        super().__init__(detail)
        self.error = error


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The authorization server is unavailable"


class Gone(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_detail = "The resource has been deleted"


def _classify(exc):
    """(status, issue code, diagnostics) for an exception, or None when it is not ours to handle."""
    if isinstance(exc, InvalidToken):
        return 401, "login", str(exc)
    if isinstance(exc, AuthorizationServerUnavailable):
        return 503, "transient", str(exc)
    if isinstance(exc, HiddenByFilter):
        # RESOURCE_FILTERS (e.g. imaging consent): answered as for an unknown id, so that a
        # refused resource's existence is not revealed.
        return 404, "not-found", str(exc)
    if isinstance(exc, AccessDenied | DjangoPermissionDenied):
        return 403, "forbidden", str(exc) or "Forbidden"
    if isinstance(exc, SearchError):
        return 400, "invalid", str(exc)
    if isinstance(exc, InvalidResource):
        return 400, "invalid", exc.issues
    if isinstance(exc, StorageError):
        return exc.status, "conflict" if exc.status in (409, 412) else "not-supported", str(exc)
    if isinstance(exc, RequestDataTooBig):
        return 413, "too-long", "The request is too large"
    if isinstance(exc, SuspiciousOperation):  # e.g. TooManyFieldsSent (DATA_UPLOAD_MAX_NUMBER_FIELDS)
        return 400, "too-long" if "many" in type(exc).__name__.lower() else "invalid", "Bad request"
    if isinstance(exc, Http404):
        return 404, "not-found", str(exc) or "Not found"
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return 401, "login", str(exc.detail)
    if isinstance(exc, exceptions.PermissionDenied):
        return 403, "forbidden", str(exc.detail)
    if isinstance(exc, exceptions.NotFound):
        return 404, "not-found", str(exc.detail)
    if isinstance(exc, exceptions.ParseError | exceptions.ValidationError):
        return 400, "structure", str(exc.detail)
    if isinstance(exc, exceptions.UnsupportedMediaType | exceptions.NotAcceptable):
        return exc.status_code, "not-supported", str(exc.detail)
    if isinstance(exc, exceptions.MethodNotAllowed):
        return 405, "not-supported", str(exc.detail)
    if isinstance(exc, exceptions.Throttled):
        return 429, "throttled", str(exc.detail)
    if isinstance(exc, exceptions.APIException):
        code = "too-long" if exc.status_code == 413 else "processing"
        return exc.status_code, code, str(exc.detail)
    return None


def fhir_exception_handler(exc, context):
    classified = _classify(exc)
    if classified is None:
        # An unexpected error: the traceback goes to the log, the client gets an OperationOutcome
        # that says nothing about it (FHIR R4 §3.1.0.4; no internals in an error answer).
        log.error("Unexpected error answering a FHIR request", exc_info=exc)
        return Response(operation_outcome("exception", "Internal server error"), status=500)
    status_code, code, diagnostics = classified
    response = Response(operation_outcome(code, diagnostics), status=status_code)
    if status_code == 401:
        response["WWW-Authenticate"] = www_authenticate(context.get("request"), exc)
    elif isinstance(exc, AccessDenied) and status_code == 403:
        # RFC 6750 §3.1: a valid token lacking the needed scope or context.
        realm = getattr(context.get("request"), "fhir_base", None) or "FHIR"
        response["WWW-Authenticate"] = f'Bearer realm="{realm}", error="insufficient_scope"'
    if isinstance(exc, exceptions.MethodNotAllowed):
        response["Allow"] = ", ".join(context["view"].allowed_methods)
    return response


def www_authenticate(request, exc) -> str:
    """RFC 6750 §3: a bad token gets error="invalid_token"; no token gets only the realm."""
    realm = getattr(request, "fhir_base", None) or "FHIR"
    header = f'Bearer realm="{realm}"'
    if isinstance(exc, InvalidToken | FhirAuthenticationFailed):
        error = getattr(exc, "error", "invalid_token")
        description = str(exc.detail if hasattr(exc, "detail") else exc).replace('"', "'")
        header += f', error="{error}", error_description="{description}"'
    return header
