"""The resource servers (FHIR bases) this authorization server governs: `aud` and RFC 8707 `resource`."""

from urllib.parse import urlsplit

from .conf import smart_auth_settings


class AudienceError(Exception):
    def __init__(self, error, description):
        super().__init__(description)
        self.error = error
        self.description = description


def normalize(url):
    return url.rstrip("/")


def governed():
    return {normalize(u): normalize(u) for u in smart_auth_settings.FHIR_BASE_URLS}


def is_valid_resource_uri(value):
    """RFC 8707 §2: an absolute URI without a fragment."""
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc) and not parts.fragment and "#" not in value


def governed_audience(aud_values, resource_values, application):
    """The audience of an authorization request, or AudienceError.

    SMART 2.2 requires `aud` (one FHIR base); RFC 8707 lets `resource` name several. Each must be
    a FHIR base this server governs (a trailing slash is tolerated) and allowed for the client.
    """
    values = list(aud_values) + list(resource_values)
    if not values:
        raise AudienceError("invalid_request", "The aud parameter (the FHIR server's base URL) is required")
    if len(aud_values) > 1:
        raise AudienceError("invalid_request", "Duplicate aud parameter")
    return checked_targets(values, application)


def checked_targets(values, application):
    """RFC 8707 §2 for every grant: the governed FHIR bases that ``values`` name, each one
    allowed for ``application``; AudienceError(``invalid_target``) for any other value."""
    known = governed()
    smart = getattr(application, "smart", None) if application is not None else None
    allowed = {normalize(a) for a in (smart.allowed_audiences if smart else [])}
    audience = []
    for value in values:
        if not isinstance(value, str) or not is_valid_resource_uri(value):
            raise AudienceError("invalid_target", f"{value!r} is not an absolute URI without a fragment")
        base = known.get(normalize(value))
        if base is None:
            raise AudienceError(
                "invalid_target", f"{value} is not a FHIR server this authorization server governs"
            )
        if allowed and base not in allowed:
            raise AudienceError("invalid_target", f"This client may not ask for {value}")
        if base not in audience:
            audience.append(base)
    return audience
