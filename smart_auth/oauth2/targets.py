"""RFC 8707 §2 at the token endpoint: the one audience check every grant runs (client
credentials, token exchange, authorization code and refresh alike)."""

from oauthlib.oauth2.rfc6749 import errors

from ..resources import AudienceError, checked_targets


def checked_token_targets(values, request):
    """The governed FHIR bases ``values`` name, all registered for ``request.client``; otherwise
    ``invalid_target``."""
    try:
        return checked_targets(values, request.client)
    except AudienceError as exc:
        raise errors.CustomOAuth2Error(error=exc.error, description=exc.description, request=request) from exc
