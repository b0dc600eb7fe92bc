"""SMART authorization endpoint: GET and ``authorize-post``, launch context, pickers and consent.

DOT's AuthorizationView carries the request through hidden form fields and treats POST as its
consent submit. SMART needs POST as a way to *send* an authorization request, so this view keeps
each pending authorization server-side (in the session, under a random key) and the consent and
picker forms carry only that key and the user's choices. oauthlib still validates the client,
redirect URI, PKCE and scopes, at the request and again when the code is created.
"""

import secrets
from urllib.parse import urlencode

from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider.compat import login_not_required
from oauth2_provider.exceptions import FatalClientError, OAuthToolkitError
from oauth2_provider.http import OAuth2ResponseRedirect
from oauth2_provider.models import get_application_model
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib import oauth2

from .. import scopes as smart_scopes
from ..audit import record
from ..conf import smart_auth_settings
from ..federation import FederationError
from ..hooks import issuer_for, patient_label
from ..models import LaunchContext
from ..multi import expand_context
from ..oauth2.validators import smart_client_of, verified_id_token_subject
from ..remote_launch import remote_launch_context
from ..resources import AudienceError, governed_audience


PENDING = "smart_auth:pending:"
STASHED_POST = "smart_auth:post:"
# Credentials oauthlib hands back that must survive until the code is created.
_CREDENTIAL_KEYS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "claims",
)


class AuthorizationError(AudienceError):
    """A refusal reported to the client as an error redirect."""


@method_decorator(login_not_required, name="dispatch")
@method_decorator(xframe_options_deny, name="dispatch")
@method_decorator(sensitive_post_parameters(), name="dispatch")
class SmartAuthorizationView(OAuthLibMixin, View):
    picker_template = "smart_auth/pick.html"
    error_template = "smart_auth/error.html"

    def get_template_name(self):
        return smart_auth_settings.AUTHORIZE_TEMPLATE

    # --- entry points --------------------------------------------------------------------------
    def get(self, request, *args, **kwargs):
        stash = request.GET.get("_post")
        if stash:
            params = request.session.pop(STASHED_POST + stash, None)
            if params is None:
                return self._error_page(400, "invalid_request", "This authorization request has expired.")
            return self.authorize(request, [tuple(pair) for pair in params])
        return self.authorize(request, list(_pairs(request.GET)))

    def post(self, request, *args, **kwargs):
        pending_key = request.POST.get("pending")
        if pending_key:
            return self.decide(request, pending_key)
        params = [(k, v) for k, v in _pairs(request.POST) if k != "csrfmiddlewaretoken"]
        return self.authorize(request, params)

    # --- the authorization request -------------------------------------------------------------
    def authorize(self, request, params):
        try:
            scopes, credentials = self._validate(params)
        except FatalClientError as error:
            record("refused", "authorize", detail=str(error.oauthlib_error.description))
            return self._error_page(
                error.oauthlib_error.status_code, error.oauthlib_error.error, error.oauthlib_error.description
            )
        except OAuthToolkitError as error:
            return self._redirect_error_from(error, credentials_client=_value(params, "client_id"))

        state = credentials.get("state")
        redirect_uri = credentials["redirect_uri"]
        application = credentials["request"].client
        prompt = set((_value(params, "prompt") or "").split())
        try:
            pending = self._build_pending(request, params, scopes, credentials, application)
        except AudienceError as exc:
            return self._redirect_error(application, redirect_uri, exc.error, exc.description, state)

        if not request.user.is_authenticated:
            if "none" in prompt:
                return self._redirect_error(
                    application, redirect_uri, "login_required", "No user is signed in", state
                )
            return self._to_login(request, params)
        if "login" in prompt and not request.session.pop("smart_auth:fresh_login", False):
            logout(request)
            request.session["smart_auth:fresh_login"] = True
            return self._to_login(request, [(k, v) for k, v in params if k != "prompt"])

        try:
            self._resolve_launch(request, pending, application)
            self._bind_user(request, pending, params)
        except (FederationError, AudienceError) as exc:
            return self._redirect_error(application, redirect_uri, exc.error, exc.description, state)

        key = secrets.token_urlsafe(24)
        request.session[PENDING + key] = pending
        needs_interaction = self._needs_picker(request, pending) is not None
        if "none" in prompt:
            if needs_interaction:
                return self._fail_pending(request, key, "interaction_required", "A patient must be chosen")
            if not self._pre_authorized(application):
                return self._fail_pending(
                    request, key, "consent_required", "The user has not approved this app"
                )
        if not needs_interaction and self._pre_authorized(application):
            return self._issue(request, key, pending["scopes"])
        return self._next_step(request, key)

    def _validate(self, params):
        """oauthlib's validation of client, redirect URI, response_type, PKCE and scopes."""
        uri = self.request.build_absolute_uri(self.request.path) + "?" + urlencode(params)
        core = self.get_oauthlib_core()
        try:
            return core.server.validate_authorization_request(uri, http_method="GET", body=None, headers={})
        except oauth2.FatalClientError as error:
            raise FatalClientError(error=error) from error
        except oauth2.OAuth2Error as error:
            raise OAuthToolkitError(error=error) from error

    def _build_pending(self, request, params, scopes, credentials, application):
        """Checks that need no user: PKCE S256 and the audience."""
        if credentials.get("code_challenge_method") != "S256":
            raise AuthorizationError("invalid_request", "PKCE with code_challenge_method=S256 is required")
        audience = governed_audience(
            [v for k, v in params if k == "aud"], [v for k, v in params if k == "resource"], application
        )
        launch_handle = _value(params, "launch")
        if launch_handle and "launch" not in scopes:
            raise AuthorizationError("invalid_scope", "The launch parameter needs the launch scope")
        if not launch_handle:
            scopes = [s for s in scopes if s != "launch"]
        return {
            "client_id": application.client_id,
            "credentials": {k: credentials[k] for k in _CREDENTIAL_KEYS if credentials.get(k) is not None},
            "id_token_hint": _value(params, "id_token_hint"),
            "scopes": list(scopes),
            "audience": audience,
            "context": {},
            "launch": launch_handle,
            "launch_user": None,
            "created": timezone.now().timestamp(),
        }

    def _resolve_launch(self, request, pending, application):
        """The launch context: a local EHR launch, a trusted EHR's launch-token, or none."""
        handle = pending["launch"]
        if not handle:
            if smart_auth_settings.SMART_STYLE_URL:
                pending["context"]["smart_style_url"] = smart_auth_settings.SMART_STYLE_URL
            if pending.get("id_token_hint") and "launch/patient" in pending["scopes"]:
                # The context of the launch that issued the hinted id_token (a silent
                # prompt=none request by a pre-authorized client, e.g. the imaging server).
                pending["context"].update(context_of_id_token(pending["id_token_hint"], request))
            return
        launch = LaunchContext.objects.filter(handle=handle, application=application).first()
        if launch is not None:
            if not launch.is_usable():
                raise AuthorizationError("invalid_request", "Unknown, expired or used launch")
            pending["context"] = launch.as_context()
            pending["launch_user"] = launch.user_id
            return
        if not smart_auth_settings.TRUSTED_EHRS or not handle.startswith("lt_"):
            raise AuthorizationError("invalid_request", "Unknown, expired or used launch")
        pending["launch"] = None  # not ours to consume: the EHR consumed it at introspection
        pending["context"], pending["scopes"] = remote_launch_context(handle, application, pending["scopes"])

    def _bind_user(self, request, pending, params):
        if pending["launch_user"] is not None and pending["launch_user"] != request.user.pk:
            raise AuthorizationError("access_denied", "This launch was made for another user")
        hint = pending.get("id_token_hint")
        if hint and verified_id_token_subject(hint, request) != str(request.user.pk):
            raise AuthorizationError("login_required", "The signed-in user does not match id_token_hint")
        reference = smart_auth_settings.FHIR_USER(request.user)
        kind, _, ident = (reference or "").partition("/")
        if (
            kind == "Patient"
            and "launch/patient" in pending["scopes"]
            and "patient" not in pending["context"]
        ):
            pending["context"]["patient"] = ident  # a patient launching for themself
        if reference:
            pending["context"]["fhirUser"] = reference

    def _needs_picker(self, request, pending):
        if "launch/patient" in pending["scopes"] and not pending["context"].get("patient"):
            return "patient"
        return None

    def _pre_authorized(self, application):
        return bool(application.skip_authorization)

    # --- pickers and consent -------------------------------------------------------------------
    def _next_step(self, request, key):
        pending = request.session[PENDING + key]
        application = get_application_model().objects.get(client_id=pending["client_id"])
        if self._needs_picker(request, pending) == "patient":
            choices = smart_auth_settings.PATIENT_CHOICES(request, request.user)
            return render(
                request,
                self.picker_template,
                {"pending": key, "application": application, "choices": choices, "kind": "patient"},
            )
        return render(
            request, self.get_template_name(), self.consent_context(request, key, pending, application)
        )

    def consent_context(self, request, key, pending, application):
        requested = smart_scopes.parse_scopes(pending["scopes"])
        items = []
        for scope in requested:
            subs = (
                smart_scopes.category_subscopes(scope)
                if isinstance(scope, smart_scopes.ResourceScope)
                else []
            )
            items.append(
                {
                    "scope": scope.raw,
                    "description": scope.describe(),
                    "subscopes": [{"scope": s.raw, "description": s.describe()} for s in subs],
                }
            )
        return {
            "pending": key,
            "application": application,
            "smart": smart_client_of(application),
            "scope_items": items,
            "audience": pending["audience"],
            "patient": pending["context"].get("patient"),
            "patient_label": patient_label(pending["context"].get("patient")),
            "user": request.user,
        }

    def decide(self, request, key):
        pending = request.session.get(PENDING + key)
        if pending is None:
            return self._error_page(400, "invalid_request", "This authorization request has expired.")
        if request.POST.get("action") == "deny":
            return self._fail_pending(request, key, "access_denied", "The user denied the request")
        if "patient" in request.POST and self._needs_picker(request, pending) == "patient":
            allowed = {
                str(ident) for ident, _label in smart_auth_settings.PATIENT_CHOICES(request, request.user)
            }
            patient = request.POST["patient"]
            if patient not in allowed:
                return self._error_page(400, "invalid_request", "That patient cannot be chosen.")
            pending["context"]["patient"] = patient
            request.session[PENDING + key] = pending
            application = get_application_model().objects.get(client_id=pending["client_id"])
            if self._pre_authorized(application):
                return self._issue(request, key, pending["scopes"])
            return self._next_step(request, key)
        if self._needs_picker(request, pending):
            return self._next_step(request, key)
        action = request.POST.get("action", "")
        if action != "approve":
            return self._fail_pending(request, key, "access_denied", "The user denied the request")
        requested = smart_scopes.parse_scopes(pending["scopes"])
        chosen = []
        for raw in smart_scopes.split(" ".join(request.POST.getlist("grant_scope"))):
            try:
                scope = smart_scopes.parse_scope(raw)
            except smart_scopes.ScopeError:
                return self._error_page(400, "invalid_scope", f"Unknown scope {raw!r}.")
            if not smart_scopes.is_narrowing(scope, requested):
                return self._error_page(400, "invalid_scope", f"{raw!r} was not requested.")
            chosen.append(raw)
        if not chosen:
            return self._fail_pending(request, key, "access_denied", "The user granted no scope")
        return self._issue(request, key, chosen)

    # --- outcomes ------------------------------------------------------------------------------
    def _issue(self, request, key, granted):
        pending = request.session.pop(PENDING + key)
        application = get_application_model().objects.get(client_id=pending["client_id"])
        credentials = dict(pending["credentials"])
        credentials["smart_context"] = expand_context(
            _context_for(pending["context"], granted), pending["audience"], request
        )
        credentials["smart_launch"] = pending["launch"]
        credentials["resource"] = pending["audience"]
        try:
            uri, _headers, _body, _status = self.create_authorization_response(
                request=request, scopes=" ".join(granted), credentials=credentials, allow=True
            )
        except OAuthToolkitError as error:
            return self._redirect_error_from(error, application=application)
        record(
            "issued",
            "authorize",
            client_id=application.client_id,
            user=request.user.get_username(),
            patient=credentials["smart_context"].get("patient", ""),
            scope=" ".join(granted),
            audience=pending["audience"],
        )
        return OAuth2ResponseRedirect(uri, application.get_allowed_schemes())

    def _fail_pending(self, request, key, error, description):
        pending = request.session.pop(PENDING + key, None) or {}
        application = get_application_model().objects.filter(client_id=pending.get("client_id")).first()
        credentials = pending.get("credentials", {})
        return self._redirect_error(
            application, credentials.get("redirect_uri"), error, description, credentials.get("state")
        )

    def _redirect_error(self, application, redirect_uri, error, description, state):
        """An RFC 6749 §4.1.2.1 error redirect, with RFC 9207 ``iss``."""
        record(
            "refused",
            "authorize",
            client_id=getattr(application, "client_id", ""),
            detail=f"{error}: {description}",
        )
        query = {"error": error, "error_description": description}
        if state:
            query["state"] = state
        query["iss"] = issuer_for(self.request)
        separator = "&" if "?" in redirect_uri else "?"
        schemes = application.get_allowed_schemes() if application else ["https", "http"]
        return OAuth2ResponseRedirect(redirect_uri + separator + urlencode(query), schemes)

    def _redirect_error_from(self, error, application=None, credentials_client=None):
        oauthlib_error = error.oauthlib_error
        if application is None and credentials_client:
            application = get_application_model().objects.filter(client_id=credentials_client).first()
        if not oauthlib_error.redirect_uri:
            return self._error_page(
                oauthlib_error.status_code, oauthlib_error.error, oauthlib_error.description
            )
        return self._redirect_error(
            application,
            oauthlib_error.redirect_uri,
            oauthlib_error.error,
            oauthlib_error.description or oauthlib_error.error,
            oauthlib_error.state,
        )

    def _error_page(self, status, error, description):
        return render(
            self.request, self.error_template, {"error": error, "description": description}, status=status
        )

    def _to_login(self, request, params):
        if request.method == "POST":
            stash = secrets.token_urlsafe(16)
            request.session[STASHED_POST + stash] = params
            next_url = f"{request.path}?{urlencode({'_post': stash})}"
        else:
            next_url = f"{request.path}?{urlencode(params)}"
        return redirect_to_login(next_url)


def context_of_id_token(id_token, request):
    """Patient and encounter of the tokens issued with one of our id_tokens (verified)."""
    import jwt
    from oauth2_provider.models import get_access_token_model

    if verified_id_token_subject(id_token, request) is None:
        return {}
    jti = jwt.decode(id_token, options={"verify_signature": False}).get("jti")
    token = get_access_token_model().objects.select_related("smart").filter(id_token__jti=jti).first()
    context = getattr(token, "smart", None).context if token is not None and hasattr(token, "smart") else {}
    return {k: context[k] for k in ("patient", "encounter") if context.get(k)}


def _context_for(context, granted):
    """Only the context the granted launch scopes call for reaches the token response."""
    granted = set(granted)
    ehr = "launch" in granted
    result = {}
    for key, value in context.items():
        if key == "patient" and not (ehr or "launch/patient" in granted):
            continue
        if key == "encounter" and not (ehr or "launch/encounter" in granted):
            continue
        if key == "fhirUser" and not granted & {"fhirUser", "openid"}:
            continue
        result[key] = value
    if "patient" in result and "need_patient_banner" not in result:
        result["need_patient_banner"] = True
    return result


def _pairs(querydict):
    for key, values in querydict.lists():
        for value in values:
            yield key, value


def _value(params, name):
    for key, value in params:
        if key == name:
            return value
    return None
