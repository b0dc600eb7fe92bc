"""RFC 8693 token exchange at this authorization server, for subject tokens of a trusted EHR.

An oauthlib grant written here because neither oauthlib nor DOT ships RFC 8693. Only
confidential clients registered for the grant may use it; the subject token (an EHR id_token,
access token or launch-token) is checked with its issuer (JWKS for id_tokens, introspection for
the others), the user and patient are mapped to ours, and no patient scope is granted without a
patient. Errors follow RFC 8693 §2.2.2: a bad subject token is ``invalid_request``.
"""

import json

import jwt
from oauthlib.oauth2.rfc6749 import errors
from oauthlib.oauth2.rfc6749.grant_types.base import GrantTypeBase

from .. import scopes as smart_scopes
from ..federation import (
    FederationError,
    federated_user,
    introspect,
    local_patient_for,
    require_same_app,
    trusted_ehr,
    trusted_ehrs,
    verify_id_token,
)
from ..hooks import fhir_user
from ..remote_launch import without_patient_scopes
from .targets import checked_token_targets


GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
LAUNCH_TOKEN = "urn:ietf:params:oauth:token-type:launch_token"
SUBJECT_TYPES = (ID_TOKEN, ACCESS_TOKEN, LAUNCH_TOKEN)


class TokenExchangeGrant(GrantTypeBase):
    def create_token_response(self, request, token_handler):
        headers = self._get_default_headers()
        try:
            self.validate_token_request(request)
        except errors.OAuth2Error as exc:
            headers.update(exc.headers)
            return headers, exc.json, exc.status_code
        token = token_handler.create_token(request, refresh_token=False)
        token["issued_token_type"] = ACCESS_TOKEN
        for modifier in self._token_modifiers:
            token = modifier(token, token_handler, request)
        self.request_validator.save_token(token, request)
        return headers, json.dumps(token), 200

    def validate_token_request(self, request):
        for validator in self.custom_validators.pre_token:
            validator(request)
        if request.grant_type != GRANT_TYPE:
            raise errors.UnsupportedGrantTypeError(request=request)
        if not self.request_validator.authenticate_client(request):
            raise errors.InvalidClientError(request=request)
        if not self.request_validator.validate_grant_type(
            request.client_id, request.grant_type, request.client, request
        ):
            raise errors.UnauthorizedClientError(
                description="This client is not registered for token exchange", request=request
            )
        params = request._params
        subject_token, subject_type = params.get("subject_token"), params.get("subject_token_type")
        if not subject_token or not subject_type:
            raise errors.InvalidRequestError(
                description="subject_token and subject_token_type are required", request=request
            )
        if params.get("actor_token_type") and not params.get("actor_token"):
            raise errors.InvalidRequestError(
                description="actor_token_type without actor_token", request=request
            )
        if params.get("actor_token"):
            raise errors.InvalidRequestError(
                description="Delegation (actor_token) is not supported", request=request
            )
        if subject_type not in SUBJECT_TYPES:
            raise errors.InvalidRequestError(
                description=f"Unsupported subject_token_type {subject_type}", request=request
            )
        requested_type = params.get("requested_token_type")
        if requested_type and requested_type != ACCESS_TOKEN:
            raise errors.InvalidRequestError(description="Only access tokens are issued", request=request)
        if not request.scope:
            raise errors.InvalidRequestError(description="scope is required", request=request)
        self._check_targets(request, params)
        try:
            user, patient, subject_scope = self._subject(request, subject_token, subject_type)
        except FederationError as exc:
            raise errors.InvalidRequestError(description=exc.description, request=request) from exc
        own = _own_patient(user)
        if own is not None and patient and patient != own:
            raise errors.InvalidRequestError(
                description="The subject's patient is not the patient user", request=request
            )
        request.user = user
        request.smart_context = {"patient": patient, "need_patient_banner": True} if patient else {}
        reference = fhir_user(user)
        if reference:
            request.smart_context["fhirUser"] = reference  # user/ scopes follow the user policy
        request.scopes = within_subject_grant(smart_scopes.split(request.scope), subject_scope)
        if not patient:
            request.scopes = without_patient_scopes(request.scopes)
        if not request.scopes:
            # oauthlib would fall back to the raw ``scope`` parameter for an empty list.
            raise errors.InvalidScopeError(
                description="Nothing asked for is covered by the subject token and a matched patient",
                request=request,
            )
        self.validate_scopes(request)
        for validator in self.custom_validators.post_token:
            validator(request)

    def _check_targets(self, request, params):
        """``resource`` and ``audience`` (RFC 8693 §2.1) must name FHIR bases we govern and the
        client's registration allows (checked before the subject token is looked at)."""
        wanted = [v for k, v in request.decoded_body or [] if k in ("resource", "audience")]
        request.resource = checked_token_targets(wanted, request)

    def _subject(self, request, token, token_type):
        """``(local user, local patient id or None, scopes the subject was granted or None)``.

        An id_token grants no API access of its own: it vouches for a user (``user/`` scopes
        bounded by the registration, never patient scopes). An access token or launch-token
        bounds what may be granted here by the scopes it carries.
        """
        if token_type == ID_TOKEN:
            ehr = self._ehr_of_jwt(token)
            claims = verify_id_token(ehr, token)
            require_same_app(ehr, request.client, _first(claims.get("aud")), what="id_token")
            return federated_user(ehr, claims["sub"], claims.get("fhirUser")), None, None
        data = None
        for ehr in trusted_ehrs():
            data = introspect(ehr, token)
            if data.get("active"):
                break
        if not data or not data.get("active"):
            raise FederationError("invalid_request", "The subject token is not active at any trusted issuer")
        is_launch_token = data.get("token_type") == LAUNCH_TOKEN
        if (token_type == LAUNCH_TOKEN) != is_launch_token:
            raise FederationError("invalid_request", "subject_token_type does not match the subject token")
        require_same_app(ehr, request.client, data.get("client_id"), data.get("software_id"), "subject token")
        user = federated_user(ehr, data.get("sub") or data.get("client_id"), data.get("fhirUser"))
        patient = local_patient_for(ehr, data["patient"]) if data.get("patient") else None
        return user, patient, str(data.get("granted_scope" if is_launch_token else "scope") or "")

    def _ehr_of_jwt(self, token):
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError as exc:
            raise FederationError("invalid_request", "subject_token is not a JWT") from exc
        ehr = trusted_ehr(issuer) if issuer else None
        if ehr is None:
            raise FederationError("invalid_request", f"{issuer!r} is not a trusted issuer")
        return ehr


def _own_patient(user):
    """The local patient a patient user is (None for any other user)."""
    kind, _, ident = (fhir_user(user) or "").partition("/")
    return ident if kind == "Patient" else None


def _first(value):
    return value[0] if isinstance(value, list) and value else value


def within_subject_grant(asked, subject_scope):
    """RFC 8693 §2.1: the asked scopes the subject token's own grant covers (a resource scope
    equal or narrower, in the same context; other scopes as carried). ``None``: an id_token,
    which carries no grant; only its ``user/`` and identity scopes are considered."""
    if subject_scope is None:
        return [raw for raw in asked if not _is_patient_scope(raw)]
    granted = smart_scopes.parse_scopes(smart_scopes.split(subject_scope))
    kept = []
    for raw in asked:
        try:
            scope = smart_scopes.parse_scope(raw)
        except smart_scopes.ScopeError:
            kept.append(raw)  # left for validate_scopes to refuse as invalid_scope
            continue
        if isinstance(scope, smart_scopes.ResourceScope):
            if smart_scopes.is_narrowing(scope, granted):
                kept.append(raw)
        elif raw not in ("launch", "launch/patient", "launch-token"):
            kept.append(raw)
    return kept


def _is_patient_scope(raw):
    return raw.startswith("patient/") or raw == "launch/patient"
