"""Request bodies: FHIR JSON resources, and form-encoded parameters for ``POST _search``."""

import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, FormParser


class FhirJsonParser(BaseParser):
    media_type = "application/fhir+json"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return json.loads(stream.read().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"The body is not valid JSON: {exc}")


class PlainJsonParser(FhirJsonParser):
    media_type = "application/json"


class SearchFormParser(FormParser):
    pass


class JsonPatchParser(FhirJsonParser):
    """``PATCH`` bodies (RFC 6902). A JSON array sent as application/(fhir+)json is read as well,
    as clients such as fhirpy send it."""

    media_type = "application/json-patch+json"
