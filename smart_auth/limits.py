"""Input limits of smart_auth's endpoints: a body Django refuses to read, NUL characters (which
PostgreSQL cannot store or compare) and JSON nested or sized beyond reason are all answered with
``invalid_request`` before anything is looked up or stored."""

import json

from django.core.exceptions import SuspiciousOperation
from django.http.multipartparser import MultiPartParserError


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
    """``json.loads(text)`` within the limits (a deep nesting would otherwise raise
    RecursionError, which no caller expects); InputError otherwise."""
    if len(text) > max_bytes:
        raise InputError(f"JSON longer than {max_bytes} characters")
    if nesting_depth(text) > max_depth:
        raise InputError(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InputError("Not valid JSON") from exc


def nesting_depth(text):
    """The deepest ``[``/``{`` nesting of a JSON text, brackets inside strings excepted."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
