"""Request bodies: FHIR JSON resources, and form-encoded parameters for ``POST _search``."""

from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser, FormParser

from smart_auth.strict_json import JsonRejected, loads

from ..conf import fhir_settings


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large"


class FhirJsonParser(BaseParser):
    """JSON within MAX_BODY_BYTES and MAX_JSON_DEPTH, finite numbers, Unicode strings."""

    media_type = "application/fhir+json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = fhir_settings.MAX_BODY_BYTES
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise BodyTooLarge(f"The request body exceeds {limit} bytes")
        try:
            return loads(data, fhir_settings.MAX_JSON_DEPTH)
        except JsonRejected as exc:
            raise ParseError(f"The body is not acceptable JSON: {exc}")


class PlainJsonParser(FhirJsonParser):
    media_type = "application/json"


class SearchFormParser(FormParser):
    pass
