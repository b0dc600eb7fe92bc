"""SmartOAuth2Validator: DOT's validator taught SMART App Launch 2.2 (``OAUTH2_VALIDATOR_CLASS``)."""

import hashlib
import json
import logging
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import jwt
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils import timezone
from oauth2_provider.exceptions import FatalClientError
from oauth2_provider.models import (
    get_access_token_model,
    get_id_token_model,
    get_refresh_token_model,
    refresh_token_expire_timedelta,
)
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors
from oauthlib.oauth2.rfc6749.utils import scope_to_list

from .. import client_registry, compiled, launch_tokens
from .. import scopes as smart_scopes
from ..audit import record
from ..compiled import CompiledQuery
from ..conf import smart_auth_settings
from ..hooks import endpoint_url, issuer_for
from ..models import GrantContext, LaunchContext, RedeemedCode, TokenContext
from . import client_auth, rotation
from . import tokens as access_tokens
from .targets import checked_token_targets
from .token_exchange import GRANT_TYPE as TOKEN_EXCHANGE


log = logging.getLogger(__name__)

REFRESH_SCOPES = {"offline_access", "online_access"}
# Scopes that only make sense with a user in the loop, refused for client_credentials.
_USER_ONLY = {"openid", "fhirUser", "profile", "launch", "offline_access", "online_access", "launch-token"}


def _checksum(value):
    return hashlib.sha256(value.encode()).hexdigest()


def smart_client_of(application):
    try:
        return application.smart if application is not None else None
    except Exception:  # RelatedObjectDoesNotExist: a plain DOT client
        return None


def _grant_model():
    from oauth2_provider.models import get_grant_model

    return get_grant_model()


# The two row lookups of a token request, compiled once per connection (see smart_auth.compiled).
_LIVE_REFRESH_TOKEN = CompiledQuery(
    lambda checksum: (
        get_refresh_token_model()
        .objects.filter(token_checksum=checksum, revoked__isnull=True)
        .select_related("access_token__smart", "user__smart", "application")
        .order_by("pk")[:1]
    ),
    "\x00smart-auth-refresh-checksum",
)
_GRANT_BY_CODE = CompiledQuery(
    lambda code: (
        _grant_model()
        .objects.filter(code=code)
        .select_related("smart", "user", "user__smart")
        .order_by("pk")[:1]
    ),
    "\x00smart-auth-grant-code",
)


class SmartOAuth2Validator(OAuth2Validator):
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "fhirUser": "fhirUser"}

    # --- clients -------------------------------------------------------------------------------
    def _load_application(self, client_id, request):
        if not client_id:
            return None
        if not request.client:
            # The process's copy of the registration, SMART metadata joined (DOT's own lookup
            # would be a query per request and a lazy one more for .smart).
            request.client = client_registry.application(client_id)
        application = super()._load_application(client_id, request)
        smart = smart_client_of(application)
        if smart is not None and not smart.enabled:
            request.client = None
            return None
        return application

    def _authenticate_basic_auth(self, request):
        try:
            return super()._authenticate_basic_auth(request)
        except ValueError:  # non-ASCII Basic credentials: DOT catches binascii.Error only
            return False

    def _has_assertion(self, request):
        return bool(
            getattr(request, "client_assertion", None) or getattr(request, "client_assertion_type", None)
        )

    def client_authentication_required(self, request, *args, **kwargs):
        if self._has_assertion(request):
            return True
        if (
            not request.client_id
            and request.grant_type == "refresh_token"
            and not self._extract_basic_auth(request)
        ):
            # SMART's refresh request carries no client_id for public clients: find the client
            # through the refresh token itself.
            application = self._application_of_refresh_token(request.refresh_token)
            if application is not None:
                request.client = application
                request.client_id = application.client_id
                return application.client_type == application.CLIENT_CONFIDENTIAL
        return super().client_authentication_required(request, *args, **kwargs)

    def _application_of_refresh_token(self, refresh_token):
        if not refresh_token:
            return None
        rt = (
            get_refresh_token_model()
            .objects.select_related("application__smart")
            .filter(token_checksum=_checksum(refresh_token))
            .first()
        )
        return rt.application if rt else None

    def authenticate_client(self, request, *args, **kwargs):
        if self._has_assertion(request):
            return self._authenticate_assertion(request)
        if not super().authenticate_client(request, *args, **kwargs):
            # Which of the two it was would tell a caller whether a client_id exists.
            request.smart_auth_error = "Client authentication failed: unknown client or wrong credentials"
            return False
        smart = smart_client_of(request.client)
        if smart is not None and smart.is_asymmetric:
            # An asymmetric client must prove possession of its key, not a shared secret.
            request.smart_auth_error = "This client must authenticate with private_key_jwt"
            return False
        return True

    def _authenticate_assertion(self, request):
        if getattr(request, "client_assertion_type", None) != client_auth.ASSERTION_TYPE:
            request.smart_auth_error = "client_assertion_type must be " + client_auth.ASSERTION_TYPE
            return False
        if self._extract_basic_auth(request):
            request.smart_auth_error = "Use one client authentication method, not two"
            return False
        assertion = getattr(request, "client_assertion", None) or ""
        client_id = client_auth.unverified_issuer(assertion)
        if not client_id or (request.client_id and request.client_id != client_id):
            request.smart_auth_error = "client_assertion iss does not name the client"
            return False
        application = self._load_application(client_id, request)
        smart = smart_client_of(application)
        if smart is None:
            request.smart_auth_error = "Unknown client"
            return False
        audiences = self._assertion_audiences(request)
        try:
            client_auth.verify_client_assertion(assertion, smart, audiences)
        except client_auth.AssertionRejected as exc:
            request.smart_auth_error = str(exc)
            log.debug("private_key_jwt refused for %s: %s", client_id, exc)
            return False
        request.client_id = client_id
        return True

    def _assertion_audiences(self, request):
        """The discovered token endpoint (on the issuer's origin, as discovery publishes it), the
        issuer's ``/token``, or the URL of the endpoint being called (introspection)."""
        issuer = issuer_for(request).rstrip("/")
        parts = urlsplit(issuer)
        path = urlsplit(request.uri).path
        called = (
            request.uri.split("?", 1)[0]
            if urlsplit(request.uri).netloc
            else f"{parts.scheme}://{parts.netloc}{path}"
        )
        candidates = [
            endpoint_url(request, "oauth2_provider:token"),
            f"{issuer}/token",
            f"{issuer}/token/",
            called,
        ]
        return list(dict.fromkeys(candidates))  # the discovered token endpoint first

    def authenticate_client_id(self, client_id, request, *args, **kwargs):
        if self._load_application(client_id, request) is None:
            return False
        smart = smart_client_of(request.client)
        if smart is not None and smart.token_endpoint_auth_method != smart.AUTH_NONE:
            return False
        return request.client.client_type != request.client.CLIENT_CONFIDENTIAL

    # --- grants and scopes ---------------------------------------------------------------------
    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        smart = smart_client_of(client)
        if smart is not None and smart.grant_types:
            if grant_type == "refresh_token":
                return "authorization_code" in smart.grant_types or "refresh_token" in smart.grant_types
            return smart.allows_grant(grant_type)
        if grant_type == TOKEN_EXCHANGE:
            return False
        return super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs):
        if response_type != "code":  # SMART: authorization code only
            return False
        smart = smart_client_of(client)
        if smart is not None and smart.grant_types:
            return smart.allows_grant("authorization_code")
        return super().validate_response_type(client_id, response_type, client, request, *args, **kwargs)

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        """Parse every scope (malformed: invalid_scope) and keep those this client may have."""
        try:
            parsed = smart_scopes.parse_scopes(list(scopes))
        except smart_scopes.ScopeError as exc:
            request.smart_scope_error = str(exc)
            return False
        smart = smart_client_of(client)
        allowed = smart_scopes.parse_scopes(smart.allowed_scopes) if smart else []
        backend = request.grant_type in ("client_credentials",)
        kept = []
        for scope in parsed:
            if not smart_scopes.is_permitted(scope, allowed):
                continue
            if isinstance(scope, smart_scopes.ResourceScope) and (scope.context == "system") != backend:
                continue  # system/ scopes only for backend services, and only they
            if backend and scope.raw in _USER_ONLY:
                continue
            kept.append(scope.raw)
        scopes[:] = kept
        return bool(kept)

    def is_within_original_scope(self, request_scopes, refresh_token, request, *args, **kwargs):
        """Refresh may narrow a scope (e.g. add a category constraint), never widen it."""
        original = smart_scopes.parse_scopes(self.get_original_scopes(refresh_token, request))
        try:
            return all(
                smart_scopes.is_narrowing(s, original) for s in smart_scopes.parse_scopes(request_scopes)
            )
        except smart_scopes.ScopeError:
            return False

    def is_pkce_required(self, client_id, request):
        return True  # SMART 2.2: PKCE for every client

    # --- authorization codes -------------------------------------------------------------------
    def _create_authorization_code(self, request, code, expires=None):
        if request.code_challenge_method != "S256":
            raise errors.InvalidRequestError(
                description="PKCE code_challenge_method must be S256", request=request
            )
        grant = super()._create_authorization_code(request, code, expires)
        handle = getattr(request, "smart_launch", None)
        if handle:
            used = LaunchContext.objects.filter(
                handle=handle, application=request.client, used__isnull=True, expires__gt=timezone.now()
            ).update(used=timezone.now())
            if not used:
                raise errors.InvalidRequestError(
                    description="The launch has expired or was used", request=request
                )
        GrantContext.objects.create(grant=grant, context=getattr(request, "smart_context", None) or {})
        return grant

    def _load_grant(self, code, request):
        """The Grant of ``code`` with its launch context, user and fhirUser link: one query per
        code exchange (oauthlib asks for the code's scopes before validate_code runs)."""
        cached = getattr(request, "smart_grant_row", None)
        if cached is not None and cached[0] == code:
            return cached[1]
        grant = _GRANT_BY_CODE.first(code)
        request.smart_grant_row = (code, grant)
        return grant

    def get_authorization_code_scopes(self, client_id, code, redirect_uri, request):
        # DOT's rule (the Grant's scopes, [] for an unknown code) on the row this exchange reuses.
        grant = self._load_grant(code, request)
        return scope_to_list(grant.scope) if grant is not None and grant.scope else []

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        grant = self._load_grant(code, request)
        if grant is not None and (client is None or grant.application_id != client.pk):
            grant = None  # another client's code is no code at all
        if grant is None:
            self._revoke_replayed_code(code, request)
            return False
        # DOT's validate_code, on the row just loaded (it would query the grant again).
        if grant.is_expired():
            return False
        request.scopes = grant.scope.split(" ")
        request.user = grant.user
        if grant.nonce:
            request.nonce = grant.nonce
        if grant.claims:
            request.claims = json.loads(grant.claims)
        # The rest of this token request (PKCE, redirect_uri, nonce) reads the same row.
        request.smart_grant = grant
        context = getattr(grant, "smart", None)
        request.smart_context = dict(context.context) if context else {}
        return True

    @staticmethod
    def _validated_grant(code, request, client=None):
        """The grant validate_code loaded for this very request (code and client), or None."""
        grant = getattr(request, "smart_grant", None)
        client = client if client is not None else request.client
        if grant is None or grant.code != code or client is None or grant.application_id != client.pk:
            return None
        return grant

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request=None, *args, **kwargs):
        grant = self._validated_grant(code, request, client) if request is not None else None
        if grant is None:
            return super().confirm_redirect_uri(
                client_id, code, redirect_uri, client, request, *args, **kwargs
            )
        return grant.redirect_uri_allowed(redirect_uri)

    def get_code_challenge(self, code, request):
        grant = self._validated_grant(code, request)
        if grant is None:
            return super().get_code_challenge(code, request)
        return grant.code_challenge or None

    def get_code_challenge_method(self, code, request):
        grant = self._validated_grant(code, request)
        if grant is None:
            return super().get_code_challenge_method(code, request)
        return grant.code_challenge_method or None

    def get_authorization_code_nonce(self, client_id, code, redirect_uri, request):
        grant = self._validated_grant(code, request)
        if grant is None:
            return super().get_authorization_code_nonce(client_id, code, redirect_uri, request)
        return grant.nonce or None

    def _revoke_replayed_code(self, code, request):
        redeemed = RedeemedCode.objects.filter(code_checksum=_checksum(code)).first()
        if redeemed is None:
            return
        with transaction.atomic():
            if redeemed.token_family:
                get_refresh_token_model().revoke_family(redeemed.token_family)
            if redeemed.access_token_id:
                token = get_access_token_model().objects.filter(pk=redeemed.access_token_id).first()
                if token:
                    token.revoke()
        record(
            "refused",
            "token",
            client_id=request.client_id,
            detail="authorization code replayed: tokens revoked",
        )

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs):
        if getattr(request, "smart_code_redeemed", None) == code:
            return  # redeemed with the tokens it bought (_save_bearer_token)
        with transaction.atomic():
            self._redeem_code(client_id, code, request, *args, **kwargs)

    def _redeem_code(self, client_id, code, request, *args, **kwargs):
        # The code is gone exactly when its redemption is on record (a replay always finds one
        # or the other). DOT's invalidate_authorization_code raises invalid_grant when the code
        # is gone already: inside the tokens' transaction, the tokens are never written then.
        grant = self._validated_grant(code, request)
        if grant is None:
            super().invalidate_authorization_code(client_id, code, request, *args, **kwargs)
        else:
            # DOT's rule (pinned by tests/smart_auth/test_dot_pins.py) on the row validate_code
            # loaded: DOT's queryset delete would read it again first.
            if not compiled.delete(grant):
                raise errors.InvalidGrantError(request=request)
        compiled.insert(
            RedeemedCode(
                code_checksum=_checksum(code),
                access_token=getattr(request, "smart_access_token", None),
                token_family=getattr(request, "smart_token_family", None),
            )
        )
        request.smart_code_redeemed = code

    # --- refresh -------------------------------------------------------------------------------
    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        rt = self._live_refresh_token(refresh_token)
        if rt is None:
            # Unknown or revoked (DOT's grace period, reuse detection): DOT decides all of it.
            if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
                return False
            rt = request.refresh_token_instance
        else:
            # DOT's validate_refresh_token for a live token (pinned by tests/smart_auth/
            # test_dot_pins.py), on the row read with its access token, user and client: DOT
            # reads those three one by one.
            if rt.access_token is None:
                return False  # an orphan: nothing left to refresh against
            expire_delta = refresh_token_expire_timedelta()
            if expire_delta and rt.access_token.expires + expire_delta <= timezone.now():
                return False
            request.user = rt.user
            request.refresh_token = refresh_token
            request.refresh_token_instance = rt
            if rt.application != client:
                return False
        context = self._refresh_context(rt)
        request.smart_context = dict(context.context) if context else {}
        return True

    @staticmethod
    def _live_refresh_token(refresh_token):
        return _LIVE_REFRESH_TOKEN.first(_checksum(refresh_token))

    @staticmethod
    def _refresh_context(rt):
        """The launch context of the token's family: its newest TokenContext, which for a live
        token is the one of the access token it is paired with (read with it)."""
        access_token = rt.access_token if rt.revoked is None else None
        if access_token is not None:
            try:
                context = access_token.smart
            except ObjectDoesNotExist:
                context = None
            if context is not None and context.token_family == rt.token_family:
                return context
        return TokenContext.objects.filter(token_family=rt.token_family).order_by("-pk").first()

    # --- token issuance ------------------------------------------------------------------------
    def _save_bearer_token(self, token, request, *args, **kwargs):
        presented = getattr(request, "refresh_token_instance", None)
        rotating = (
            request.grant_type == "refresh_token"
            and token.get("refresh_token")
            and self.rotate_refresh_token(request)
            and rotation.applies(presented)
        )
        if request.grant_type == "refresh_token" and not rotating and presented is not None:
            # Inside DOT's write transaction: a refresh token that was live when validated must
            # still be live now. A revocation (RFC 7009, a replay that revoked its family) that
            # committed in between wins; on SQLite, where refreshes are serialised per token
            # rather than by a row lock, this is what keeps revocation seen by every later
            # rotation. (The rotation below makes the same check in its UPDATE.)
            live = get_refresh_token_model().objects.filter(pk=presented.pk, revoked__isnull=True)
            if presented.revoked is None and not live.exists():
                raise errors.InvalidGrantError(description="The refresh token was revoked", request=request)
        if rotating:
            result = self._rotate(token, request, presented)
        else:
            result = super()._save_bearer_token(token, request, *args, **kwargs)
        self._save_pending_id_token(request)  # a path that made no access token (DOT's reuse)
        if request.grant_type == "authorization_code" and self._validated_grant(request.code, request):
            # The code is used up in the transaction of its tokens, not in one of its own after
            # it (oauthlib's order): a second redemption that loses the race leaves no tokens
            # behind, and one commit (on SQLite, one turn of the write lock) instead of two.
            self._redeem_code(request.client_id, request.code, request)
        # The issuance's audit record commits with the tokens (refusals: the token view).
        record(
            "issued",
            request.grant_type or "token",
            client_id=request.client.client_id,
            patient=(getattr(request, "smart_context", None) or {}).get("patient", ""),
            scope=token.get("scope", ""),
        )
        return result

    def _rotate(self, token, request, presented):
        """DOT's _save_bearer_token for a rotating refresh of a live token (pinned by
        tests/smart_auth/test_dot_pins.py), with ``smart_auth.oauth2.rotation`` retiring the
        presented token and its access token in two statements."""
        if "scope" not in token:
            raise FatalClientError("Failed to renew access token: missing scope")
        self._check_and_set_request_resource(request)
        expires = timezone.now() + timedelta(
            seconds=token.get("expires_in", oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)
        )
        if not rotation.retire(presented):
            raise errors.InvalidGrantError(description="The refresh token was revoked", request=request)
        request.refresh_token_instance = None  # as DOT leaves it after revoke()
        access_token = self._create_access_token(expires, request, token, source_refresh_token=presented)
        self._create_refresh_token(request, token["refresh_token"], access_token, presented)

    def _check_and_set_request_resource(self, request):
        grant = (
            self._validated_grant(request.code, request)
            if request.grant_type == "authorization_code"
            else None
        )
        if grant is None:
            return super()._check_and_set_request_resource(request)
        # DOT's rules for a code exchange (RFC 8707 narrowing), on the Grant validate_code loaded
        # (DOT queries it again, twice per exchange).
        grant_type, request.grant_type = request.grant_type, "_smart_code_exchange"
        try:
            super()._check_and_set_request_resource(request)  # normalise + validate the URIs
        finally:
            request.grant_type = grant_type
        grant_resource = grant.resource or []
        if request.resource and grant_resource:
            for res in request.resource:
                if res not in grant_resource:
                    raise errors.CustomOAuth2Error(
                        error="invalid_target",
                        description=(
                            f"The requested resource '{res}' is not allowed. "
                            "Token request cannot escalate resource permissions beyond the "
                            "original authorization grant"
                        ),
                        request=request,
                    )
        elif grant_resource:
            self._validate_resource_uris(request, grant_resource)
            request.resource = grant_resource

    def prepare_token(self, request):
        """Runs after a token request is validated (post_token): audience and lifetime."""
        self._check_and_set_request_resource(request)
        if not request.resource:
            if request.grant_type in ("client_credentials", TOKEN_EXCHANGE):
                request.resource = self.default_audience(request.client)
            else:
                raise errors.CustomOAuth2Error(
                    error="invalid_target", description="The grant names no audience", request=request
                )
        # Every grant, inherited audiences included: governed here and registered for the client.
        request.resource = checked_token_targets(request.resource, request)
        if not hasattr(request, "smart_context"):
            request.smart_context = {}

    def default_audience(self, application):
        smart = smart_client_of(application)
        governed = list(smart_auth_settings.FHIR_BASE_URLS)
        if smart and smart.allowed_audiences:
            return [a for a in smart.allowed_audiences if a in governed] or governed[:1]
        return governed[:1]

    def save_bearer_token(self, token, request, *args, **kwargs):
        granted = set(smart_scopes.split(token.get("scope")))
        if not granted & REFRESH_SCOPES:
            token.pop("refresh_token", None)  # SMART: refresh tokens only with offline/online_access
        result = super().save_bearer_token(token, request, *args, **kwargs)
        context = getattr(request, "smart_context", None) or {}
        for key, value in context.items():
            if key not in ("fhirUser",) and value not in (None, ""):
                token[key] = value
        if "launch-token" in granted and request.grant_type in ("authorization_code", "refresh_token"):
            token["launch_token"] = launch_tokens.issue(
                request.client, request.user, context, granted_scope=token.get("scope", "")
            )
        for contributor in smart_auth_settings.TOKEN_RESPONSE_CONTRIBUTORS:
            token.update(contributor(request, token) or {})
        return result

    def finalize_id_token(self, id_token, token, token_handler, request):
        client = request.client
        if client is None or client.algorithm != client.RS256_ALGORITHM:
            return super().finalize_id_token(id_token, token, token_handler, request)
        # DOT's finalize_id_token (pinned by tests/smart_auth/test_dot_pins.py), signed with
        # PyJWT and the key object loaded once per process (the same key and kid as DOT's
        # jwk_key): jwcrypto deep-copies its header registry for every token it makes.
        claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        if "nonce" not in id_token and request.nonce:  # oauthlib bug #746, as DOT works around it
            id_token["nonce"] = request.nonce
        signed = access_tokens.sign(json.loads(json.dumps(id_token, default=str)), typ="JWT")
        # Saved by _save_bearer_token, in the transaction of the tokens it goes with (DOT saves
        # it here, in a transaction of its own: one commit more per token request).
        request.smart_pending_id_token = (id_token["jti"], expiration_time)
        return signed

    def get_id_token_dictionary(self, token, token_handler, request):
        claims, expiration_time = super().get_id_token_dictionary(token, token_handler, request)
        request.smart_id_claims = claims  # TokenContext.identity, without decoding the JWT again
        return claims, expiration_time

    def _save_id_token(self, jti, request, expires, *args, **kwargs):
        # DOT's _save_id_token (pinned by tests/smart_auth/test_dot_pins.py), saved with one
        # precompiled INSERT (smart_auth.compiled.insert).
        id_token = compiled.insert(
            get_id_token_model()(
                user=request.user,
                scope=request.scope or " ".join(request.scopes),
                expires=expires,
                jti=jti,
                application=request.client,
            )
        )
        request.smart_id_token = id_token
        return id_token

    def _save_pending_id_token(self, request):
        """Save the id_token finalize_id_token signed, in the tokens' transaction. Done right
        before its access token, not when the transaction opens: on SQLite the first write takes
        the database's single writer turn, and what DOT does before the access token (0.14-0.28
        ms of Python) no longer keeps the other writers waiting."""
        pending = getattr(request, "smart_pending_id_token", None)
        if pending is not None:
            request.smart_pending_id_token = None
            jti, expires = pending
            saved = self._save_id_token(jti, request, expires)
            request.access_token = saved  # as DOT's finalize_id_token does (DRF reads it)
            request.id_token = saved

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        self._save_pending_id_token(request)
        issued = getattr(request, "smart_id_token", None) if token.get("id_token") else None
        if not token.get("id_token") or issued is not None:
            # DOT's _create_access_token, minus _load_id_token: that re-verifies the id_token
            # this request just signed and loads its client and IDToken row again (2 SELECTs).
            # Saved with one precompiled INSERT (smart_auth.compiled.insert).
            access_token = get_access_token_model()(
                user=request.user,
                scope=token["scope"],
                expires=expires,
                id_token=issued,
                application=request.client,
                source_refresh_token=source_refresh_token,
                resource=getattr(request, "resource", []),  # RFC 8707
            )
            self._set_token_value(access_token, token["access_token"])
            compiled.insert(access_token)
        else:
            access_token = super()._create_access_token(expires, request, token, source_refresh_token)
        identity = {}
        if token.get("id_token"):
            claims = getattr(request, "smart_id_claims", None)
            if claims is None:
                claims = jwt.decode(token["id_token"], options={"verify_signature": False})
            identity = {k: claims[k] for k in ("iss", "sub", "fhirUser") if k in claims}
        # DOT creates the refresh token right after this one with the family chosen the same
        # way (the previous token's, or a new one): choose it here so TokenContext is one INSERT
        # instead of an INSERT and an UPDATE.
        family = None
        if token.get("refresh_token"):
            family = source_refresh_token.token_family if source_refresh_token else uuid.uuid4()
            request.smart_pending_family = (access_token, family)
        compiled.insert(
            TokenContext(
                access_token=access_token,
                context=getattr(request, "smart_context", None) or {},
                identity=identity,
                jti=getattr(request, "smart_jti", ""),
                token_family=family,
            )
        )
        request.smart_access_token = access_token
        return access_token

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):
        pending = getattr(request, "smart_pending_family", None)
        if pending is None or pending[0] is not access_token:
            # Re-issue for a surviving access token (DOT's grace path): no family chosen above.
            refresh_token = super()._create_refresh_token(
                request, refresh_token_code, access_token, previous_refresh_token
            )
            TokenContext.objects.filter(access_token=access_token).update(
                token_family=refresh_token.token_family
            )
        else:
            # DOT's _create_refresh_token, with the family TokenContext already carries.
            refresh_token = get_refresh_token_model()(
                user=request.user,
                application=request.client,
                access_token=access_token,
                token_family=pending[1],
                resource=getattr(request, "resource", []),  # RFC 8707
            )
            self._set_token_value(refresh_token, refresh_token_code)
            compiled.insert(refresh_token)
        request.smart_pending_family = None
        request.smart_token_family = refresh_token.token_family
        return refresh_token

    # --- OpenID Connect ------------------------------------------------------------------------
    def get_additional_claims(self, request):
        claims = {}
        reference = smart_auth_settings.FHIR_USER(request.user)
        if reference:
            claims["fhirUser"] = reference
        user = request.user
        if user is not None:
            name = user.get_full_name() if hasattr(user, "get_full_name") else ""
            claims["name"] = name or user.get_username()
            claims["preferred_username"] = user.get_username()
        return claims

    # prompt=none and id_token_hint are decided by SmartAuthorizationView, which knows the
    # browser session (oauthlib validates before any user is attached to its request).
    def validate_silent_login(self, request):
        return True

    def validate_silent_authorization(self, request):
        return True

    def validate_user_match(self, id_token_hint, scopes, claims, request):
        return True

    # --- bearer tokens -------------------------------------------------------------------------
    def validate_bearer_token(self, token, scopes, request):
        """DOT's rule, and the token's client must not be disabled: switching a client off in the
        admin stops the tokens it holds, not only new ones (fail closed). DOT's own hook for this
        is a swapped Application model's ``is_usable``; SMART's switch lives on ``SmartClient``."""
        if not super().validate_bearer_token(token, scopes, request):
            return False
        smart = smart_client_of(request.client)
        if smart is not None and not smart.enabled:
            request.oauth2_error = {
                "error": "invalid_token",
                "error_description": "The access token is invalid.",
            }
            request.client = request.user = request.access_token = None
            return False
        return True

    validate_bearer_token.smart_bearer_rule = True  # smart_auth.bearer.accepts applies it as well

    # --- revocation ----------------------------------------------------------------------------
    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):
        result = super().revoke_token(token, token_type_hint, request, *args, **kwargs)
        record("revoked", "revoke", client_id=getattr(request.client, "client_id", ""))
        return result


def verified_id_token_subject(id_token, request=None):
    """``sub`` of an id_token we issued (signature and issuer checked, expiry ignored), or None."""
    from jwcrypto.jwk import JWK
    from oauth2_provider.settings import oauth2_settings

    for pem in [oauth2_settings.OIDC_RSA_PRIVATE_KEY, *oauth2_settings.OIDC_RSA_PRIVATE_KEYS_INACTIVE]:
        public = JWK.from_pem(pem.encode()).export_to_pem()
        try:
            claims = jwt.decode(
                id_token,
                public,
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False},
                issuer=issuer_for(request) if request is not None else None,
            )
        except jwt.PyJWTError:
            continue
        return str(claims.get("sub"))
    return None


def validate_token_audience(request_uri, audiences):
    """DOT ``RESOURCE_SERVER_TOKEN_RESOURCE_VALIDATOR``: a token may call the resource servers in
    its audience (RFC 8707 prefix match) and this authorization server's own endpoints
    (introspection, userinfo), which its scopes, not its audience, protect."""
    from oauth2_provider.oauth2_validators import validate_resource_as_url_prefix
    from oauth2_provider.settings import oauth2_settings

    issuer = (oauth2_settings.OIDC_ISS_ENDPOINT or "").rstrip("/")
    if issuer and validate_resource_as_url_prefix(request_uri, [issuer]):
        return True
    return validate_resource_as_url_prefix(request_uri, audiences)
