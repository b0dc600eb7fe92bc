"""Input limits of smart_auth's endpoints: a body Django refuses to read, NUL characters (which
PostgreSQL cannot store or compare) and JSON nested or sized beyond reason are all answered with
``invalid_request`` before anything is looked up or stored."""

from django.core.exceptions import SuspiciousOperation
from django.http.multipartparser import MultiPartParserError

from . import strict_json


MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 16


class InputError(ValueError):
    """Input refused by a limit; the message is safe to show to the client."""


def request_problem(request):
    """Why this request's query or form cannot be accepted, or None."""
    try:
        fields = list(request.GET.lists()) + list(request.POST.lists())
    except (SuspiciousOperation, MultiPartParserError):
        # DATA_UPLOAD_MAX_MEMORY_SIZE / _NUMBER_FIELDS exceeded, or a broken multipart body.
        return "The request body is too large or malformed"
    for key, values in fields:
        if "\x00" in key or any("\x00" in value for value in values):
            return "Parameters may not contain NUL characters"
    return None


def json_value(text, max_bytes=MAX_JSON_BYTES, max_depth=MAX_JSON_DEPTH):
    """``json.loads(text)`` within the limits of :mod:`smart_auth.strict_json` and ``max_bytes``;
    InputError otherwise."""
    if len(text) > max_bytes:
        raise InputError(f"JSON longer than {max_bytes} characters")
    try:
        return strict_json.loads(text, max_depth)
    except strict_json.JsonRejected as exc:
        raise InputError(str(exc)) from None
