"""DOT's bearer-token rule decided on a row of plain values (the introspection endpoint's hot path).

DOT checks a bearer token with ``OAuthLibCore.verify_request`` → oauthlib's ``ResourceEndpoint`` /
``BearerToken`` → ``OAuth2Validator.validate_bearer_token``, which loads the token with its
application and user as model instances. :func:`accepts` answers the same question on the values
``smart_auth.introspection.token_rows`` reads (one SELECT for the caller's token and the token it
asks about), calling DOT's own rule methods (``AccessToken.is_valid`` and ``allows_audience``, the
latter through ``RESOURCE_SERVER_TOKEN_RESOURCE_VALIDATOR``) on an unsaved token that holds them.

It only ever *accepts*: whatever it does not accept goes the whole way through DOT (which then
accepts or refuses with its own error). Where this deployment replaces a piece of that chain (the
validator's ``validate_bearer_token``, the server's token types, ``Application.is_usable`` …),
:func:`accepts` accepts nothing, so DOT decides everything. The rules re-applied by hand are pinned
by ``tests/smart_auth/test_bearer_rule.py``, which compares :func:`accepts` with DOT's
``verify_request`` case by case.
"""

import weakref

from oauth2_provider.models import AbstractApplication, get_access_token_model, get_application_model
from oauth2_provider.oauth2_backends import OAuthLibCore
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749.endpoints.resource import ResourceEndpoint
from oauthlib.oauth2.rfc6749.tokens import BearerToken


_plain = weakref.WeakKeyDictionary()  # OAuthLibCore -> whether DOT's chain is the stock one


def bearer_token(request):
    """The token of the request's ``Authorization: Bearer <token>`` header, read as oauthlib's
    ``get_token_from_header`` reads it; None for anything else, including any request with a
    query string (DOT refuses an ``access_token`` there and oauthlib parses the rest: left to them).
    """
    if request.META.get("QUERY_STRING"):
        return None
    parts = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1]


def stock_chain(core):
    """Whether ``core`` checks bearer tokens with DOT's and oauthlib's own code throughout, so
    that :func:`accepts` reproduces it. Decided once per core."""
    plain = _plain.get(core)
    if plain is None:
        server = core.server
        tokens = getattr(server, "tokens", {})
        plain = (
            type(core).verify_request is OAuthLibCore.verify_request
            and type(server).verify_request is ResourceEndpoint.verify_request
            and len(tokens) == 1
            and all(type(t).validate_request is BearerToken.validate_request for t in tokens.values())
            and _stock_bearer_rule(type(server.request_validator).validate_bearer_token)
            and type(server.request_validator)._load_access_token is OAuth2Validator._load_access_token
        )
        _plain[core] = plain
    return plain


def _stock_bearer_rule(method):
    """DOT's ``validate_bearer_token``, or SmartOAuth2Validator's, which adds one rule that
    :func:`accepts` applies too (a disabled SMART client's tokens are refused)."""
    return method is OAuth2Validator.validate_bearer_token or getattr(method, "smart_bearer_rule", False)


def accepts(row, scopes, request, core):
    """Whether DOT's ``verify_request(request, scopes)`` accepts the bearer token whose
    ``token_rows`` row is ``row`` (None: no such token). False means "ask DOT", not "refused".

    ``validate_bearer_token``, step by step: the token exists; ``is_valid(scopes)`` (not expired,
    every scope granted); a token restricted to resources (RFC 8707) ``allows_audience`` of the
    request URI; its application ``is_usable`` (DOT's default: always; any other: ask DOT); and,
    SmartOAuth2Validator's rule, its SMART client is not disabled.
    """
    if row is None or not core.server.available or not stock_chain(core):
        return False
    if row["application__smart__enabled"] is False:
        return False  # SmartOAuth2Validator refuses it
    token = get_access_token_model()(scope=row["scope"], expires=row["expires"], resource=row["resource"])
    if not token.is_valid(scopes):
        return False
    if token.resource:
        uri = request.build_absolute_uri(core._get_escaped_full_path(request)).split("?")[0]
        if not token.allows_audience(uri):
            return False
    if row["application_id"] is not None:
        if get_application_model().is_usable is not AbstractApplication.is_usable:
            return False  # a model that may refuse applications: its rule needs the instance
    return True
