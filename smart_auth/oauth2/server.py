"""SmartServer (DOT ``OAUTH2_SERVER_CLASS``): oauthlib's OpenID Connect server plus SMART rules.

Registers the post-token step that fixes the token's audience and lifetime, a pre-authorization
check of the parameters a Grant row keeps, caps backend-services token lifetimes at SMART's 300 s,
and adds the RFC 8693 token-exchange grant.
"""

import re

from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors
from oauthlib.openid import Server

from ..conf import smart_auth_settings
from .token_exchange import GRANT_TYPE, TokenExchangeGrant


# RFC 7636 §4.2: code_challenge = 43*128unreserved (a S256 challenge is 43 characters).
PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
MAX_NONCE = 255  # DOT's Grant.nonce column


def check_stored_parameters(request):
    """Authorization parameters kept on the Grant row must fit it (PostgreSQL enforces column
    lengths): a wrong one is ``invalid_request`` at the authorization endpoint, not a 500 later."""
    if request.code_challenge is not None and not PKCE_CHALLENGE.fullmatch(request.code_challenge):
        raise errors.InvalidRequestError(
            description="code_challenge must be 43-128 characters of A-Z a-z 0-9 - . _ ~", request=request
        )
    if request.nonce and len(request.nonce) > MAX_NONCE:
        raise errors.InvalidRequestError(description=f"nonce is longer than {MAX_NONCE}", request=request)
    return {}


class SmartServer(Server):
    def __init__(self, request_validator, token_expires_in=None, *args, **kwargs):
        self._access_expires_in = token_expires_in
        super().__init__(request_validator, self._expires_in, *args, **kwargs)
        # SMART is the authorization code flow only: any other response_type falls to the code
        # grant, which answers unsupported_response_type.
        self._response_types = {"code": self.auth_grant_choice}
        # Our access tokens are JWTs: oauthlib would otherwise route any three-part bearer token
        # to its id_token-as-bearer ("JWT") token type instead of the access-token lookup.
        self._tokens = {"Bearer": self.bearer}
        for grant in (self.auth_grant, self.openid_connect_auth, self.refresh_grant, self.credentials_grant):
            grant.custom_validators.post_token.append(request_validator.prepare_token)
        for grant in (self.auth_grant, self.openid_connect_auth):
            grant.custom_validators.pre_auth.append(check_stored_parameters)
        token_exchange = TokenExchangeGrant(request_validator)
        token_exchange.custom_validators.post_token.append(request_validator.prepare_token)
        self.grant_types[GRANT_TYPE] = token_exchange

    def _expires_in(self, request):
        configured = self._access_expires_in or oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS
        seconds = configured(request) if callable(configured) else configured
        if request.grant_type == "client_credentials":
            return min(int(seconds), smart_auth_settings.BACKEND_TOKEN_EXPIRE_SECONDS)
        return int(seconds)
