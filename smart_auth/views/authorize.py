"""SMART authorization endpoint: GET and ``authorize-post``, launch context, pickers and consent.

DOT's AuthorizationView carries the request through hidden form fields and treats POST as its
consent submit. SMART needs POST as a way to *send* an authorization request, so this view keeps
each pending authorization server-side (:class:`~smart_auth.pending.PendingAuthorization`, in the
session under a random key) and the consent and picker forms carry only that key and the user's
choices. oauthlib still validates the client, redirect URI, PKCE and scopes, at the request and
again when the code is created.

Extension points (public, documented in docs/smart_auth.md): subclass the view, name it in
``SMART_AUTH["AUTHORIZATION_VIEW_CLASS"]`` and override the hooks ``external_step``,
``resolve_user_and_patient``, ``consent_context``, ``read_decision``, ``standing_decision`` and
``record_decision``; resume a flow from another view with ``for_request`` and
``continue_authorization`` / ``fail``.
"""

import secrets
from urllib.parse import urlencode

from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.csrf import csrf_exempt, csrf_protect
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
from ..hooks import fhir_user, issuer_for, patient_label
from ..launch import default_style_url
from ..limits import request_problem
from ..models import LaunchContext
from ..multi import expand_context
from ..oauth2.validators import smart_client_of, verified_id_token_subject
from ..pending import PendingAuthorization
from ..remote_launch import remote_launch_context
from ..resources import AudienceError, governed_audience


STASHED_POST = "smart_auth:post:"
# prompt=login: the parameter and session key of the one request allowed on after the sign-in.
FRESH_LOGIN = "_fresh_login"
FRESH_LOGIN_SESSION = "smart_auth:fresh_login:"
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
    """A refusal reported to the client as an error redirect (``error``, ``description``)."""


class DecisionError(Exception):
    """A consent form the user could not have sent (a value that was not offered): HTTP 400."""


def param(params, name):
    """The first value of ``name`` in a list of ``(name, value)`` request parameters."""
    for key, value in params:
        if key == name:
            return value
    return None


@method_decorator(login_not_required, name="dispatch")
@method_decorator(xframe_options_deny, name="dispatch")
@method_decorator(sensitive_post_parameters(), name="dispatch")
# SMART ``authorize-post``: an app's page posts the authorization request cross-site, which can
# carry no CSRF token (it is no more than the GET request); post() protects the consent POST.
@method_decorator(csrf_exempt, name="dispatch")
class SmartAuthorizationView(OAuthLibMixin, View):
    picker_template = "smart_auth/pick.html"
    error_template = "smart_auth/error.html"

    @classmethod
    def for_request(cls, request):
        """An instance bound to ``request``, to resume a pending authorization from another
        view (e.g. a callback from another server)."""
        view = cls()
        view.setup(request)
        return view

    def get_template_name(self):
        return smart_auth_settings.AUTHORIZE_TEMPLATE

    # --- hooks (override in a subclass) ----------------------------------------------------------
    def external_step(self, request, pending, application, params):
        """Before this server signs the user in: return a response to take the browser
        elsewhere (another server), or None to go on. Raise AuthorizationError or
        FederationError to refuse with an error redirect."""
        return None

    def resolve_user_and_patient(self, request, pending, application):
        """With a signed-in user: fill ``pending.context`` (patient, encounter, fhirUser) from
        the launch and the user, narrowing ``pending.scopes`` where nothing vouches for them."""
        self.resolve_launch(request, pending, application)
        self.bind_user(request, pending)

    def consent_context(self, request, pending, application):
        """The consent screen's template context: what it lists."""
        requested = smart_scopes.parse_scopes(pending.scopes)
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
            "pending": pending.key,
            "application": application,
            "smart": smart_client_of(application),
            "scope_items": items,
            "audience": pending.audience,
            "patient": pending.patient,
            "patient_label": patient_label(pending.patient),
            "user": request.user,
        }

    def read_decision(self, request, pending):
        """An approving consent form's own fields (besides ``grant_scope``): check them against
        what was offered and keep them in ``pending.extra``; raise DecisionError if not offered."""

    def standing_decision(self, request, pending, application):
        """Scopes to grant without asking (a pre-authorized client, a remembered consent), or None."""
        return list(pending.scopes) if application.skip_authorization else None

    def record_decision(self, request, pending, granted):
        """Just before the code is issued for ``granted``: keep a record of the decision (and put
        anything the token must carry into ``pending.context``)."""

    # --- entry points --------------------------------------------------------------------------
    def dispatch(self, request, *args, **kwargs):
        problem = request_problem(request)  # before oauthlib or the database sees the input
        if problem:
            return self.error_page(400, "invalid_request", problem)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        stash = request.GET.get("_post")
        if stash:
            params = request.session.pop(STASHED_POST + stash, None)
            if params is None:
                return self.error_page(400, "invalid_request", "This authorization request has expired.")
            return self.authorize(request, [tuple(pair) for pair in params])
        return self.authorize(request, list(_pairs(request.GET)))

    def post(self, request, *args, **kwargs):
        pending_key = request.POST.get("pending")
        if pending_key:
            # The picker and consent forms are our own pages: Django's CSRF check applies.
            return csrf_protect(lambda request: self.decide(request, pending_key))(request)
        params = [(k, v) for k, v in _pairs(request.POST) if k != "csrfmiddlewaretoken"]
        return self.authorize(request, params)

    # --- the authorization request -------------------------------------------------------------
    def authorize(self, request, params):
        try:
            scopes, credentials = self.validate_request(params)
        except FatalClientError as error:
            record("refused", "authorize", detail=str(error.oauthlib_error.description))
            return self.error_page(
                error.oauthlib_error.status_code, error.oauthlib_error.error, error.oauthlib_error.description
            )
        except OAuthToolkitError as error:
            return self._redirect_error_from(error, credentials_client=param(params, "client_id"))

        state = credentials.get("state")
        redirect_uri = credentials["redirect_uri"]
        application = credentials["request"].client
        prompt = set((param(params, "prompt") or "").split())
        try:
            pending = self._build_pending(request, params, scopes, credentials, application)
            diverted = self.external_step(request, pending, application, params)
        except (AudienceError, FederationError) as exc:
            return self._redirect_error(application, redirect_uri, exc.error, exc.description, state)
        if diverted is not None:
            return diverted

        if not request.user.is_authenticated and "none" in prompt:
            return self._redirect_error(
                application, redirect_uri, "login_required", "No user is signed in", state
            )
        if "login" in prompt or param(params, FRESH_LOGIN):
            # OIDC Core §3.1.2.1: sign in (again). Only the request that comes back from this
            # sign-in, carrying its one-time marker, goes on; every other prompt=login (or a
            # replayed marker) signs the user out and in again.
            marker = param(params, FRESH_LOGIN) or ""
            signed_in = request.user.is_authenticated
            if not (marker and signed_in and request.session.pop(FRESH_LOGIN_SESSION + marker, False)):
                if signed_in:
                    logout(request)
                marker = secrets.token_urlsafe(16)
                request.session[FRESH_LOGIN_SESSION + marker] = True
                rest = " ".join(sorted(prompt - {"login"}))
                again = [(k, v) for k, v in params if k not in ("prompt", FRESH_LOGIN)]
                again += [("prompt", rest)] if rest else []
                return self._to_login(request, again + [(FRESH_LOGIN, marker)])
        elif not request.user.is_authenticated:
            return self._to_login(request, params)

        try:
            self.resolve_user_and_patient(request, pending, application)
        except (FederationError, AudienceError) as exc:
            return self._redirect_error(application, redirect_uri, exc.error, exc.description, state)

        pending.save(request)
        if "none" in prompt:
            if self._needs_picker(request, pending) is not None:
                return self.fail(request, pending, "interaction_required", "A patient must be chosen")
            if self.standing_decision(request, pending, application) is None:
                return self.fail(request, pending, "consent_required", "The user has not approved this app")
        return self.continue_authorization(request, pending)

    def validate_request(self, params):
        """oauthlib's validation of client, redirect URI, response_type, PKCE and scopes:
        ``(scopes, credentials)``, or FatalClientError / OAuthToolkitError."""
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
        launch_handle = param(params, "launch")
        if launch_handle and "launch" not in scopes:
            raise AuthorizationError("invalid_scope", "The launch parameter needs the launch scope")
        if not launch_handle:
            scopes = [s for s in scopes if s != "launch"]
        return PendingAuthorization(
            client_id=application.client_id,
            credentials={k: credentials[k] for k in _CREDENTIAL_KEYS if credentials.get(k) is not None},
            id_token_hint=param(params, "id_token_hint"),
            scopes=list(scopes),
            audience=audience,
            launch=launch_handle,
        )

    def resolve_launch(self, request, pending, application):
        """The launch context: a local EHR launch, a trusted EHR's launch-token, or none."""
        handle = pending.launch
        if not handle:
            style = default_style_url()
            if style:
                pending.context["smart_style_url"] = style
            if pending.id_token_hint and "launch/patient" in pending.scopes:
                # The context of the launch that issued the hinted id_token (a silent
                # prompt=none request by a pre-authorized client, e.g. the imaging server).
                pending.context.update(context_of_id_token(pending.id_token_hint, request))
            return
        launch = LaunchContext.objects.filter(handle=handle, application=application).first()
        if launch is not None:
            if not launch.is_usable():
                raise AuthorizationError("invalid_request", "Unknown, expired or used launch")
            pending.context = launch.as_context()
            pending.launch_user = launch.user_id
            return
        if not smart_auth_settings.TRUSTED_EHRS or not handle.startswith("lt_"):
            raise AuthorizationError("invalid_request", "Unknown, expired or used launch")
        pending.launch = None  # not ours to consume: the EHR consumed it at introspection
        pending.context, pending.scopes = remote_launch_context(handle, application, pending.scopes)

    def bind_user(self, request, pending):
        """The signed-in user: the launch's user, the hinted id_token's subject, their fhirUser."""
        if pending.launch_user is not None and pending.launch_user != request.user.pk:
            raise AuthorizationError("access_denied", "This launch was made for another user")
        hint = pending.id_token_hint
        if hint and verified_id_token_subject(hint, request) != str(request.user.pk):
            raise AuthorizationError("login_required", "The signed-in user does not match id_token_hint")
        reference = fhir_user(request.user)
        kind, _, ident = (reference or "").partition("/")
        if kind == "Patient" and "launch/patient" in pending.scopes and "patient" not in pending.context:
            pending.context["patient"] = ident  # a patient launching for themself
        if kind == "Patient" and pending.patient and pending.patient != ident:
            # SMART 2.2: a patient user acts for themself only, whatever a launch names.
            raise AuthorizationError("access_denied", "A patient user can only launch for themself")
        if reference:
            pending.context["fhirUser"] = reference

    def _needs_picker(self, request, pending):
        if "launch/patient" in pending.scopes and not pending.patient:
            return "patient"
        return None

    # --- pickers and consent -------------------------------------------------------------------
    def continue_authorization(self, request, pending):
        """The next step of a pending authorization: the patient picker, a standing decision
        (issue at once) or the consent screen."""
        pending.save(request)
        application = get_application_model().objects.get(client_id=pending.client_id)
        if self._needs_picker(request, pending) == "patient":
            choices = smart_auth_settings.PATIENT_CHOICES(request, request.user)
            return render(
                request,
                self.picker_template,
                {"pending": pending.key, "application": application, "choices": choices, "kind": "patient"},
            )
        granted = self.standing_decision(request, pending, application)
        if granted is not None:
            return self.issue(request, pending, granted)
        return render(request, self.get_template_name(), self.consent_context(request, pending, application))

    def decide(self, request, key):
        pending = PendingAuthorization.load(request, key)
        if pending is None:
            return self.error_page(400, "invalid_request", "This authorization request has expired.")
        if request.POST.get("action") == "deny":
            return self.fail(request, pending, "access_denied", "The user denied the request")
        if "patient" in request.POST and self._needs_picker(request, pending) == "patient":
            allowed = {
                str(ident) for ident, _label in smart_auth_settings.PATIENT_CHOICES(request, request.user)
            }
            patient = request.POST["patient"]
            if patient not in allowed:
                return self.error_page(400, "invalid_request", "That patient cannot be chosen.")
            pending.context["patient"] = patient
            return self.continue_authorization(request, pending)
        if self._needs_picker(request, pending):
            return self.continue_authorization(request, pending)
        action = request.POST.get("action", "")
        if action != "approve":
            return self.fail(request, pending, "access_denied", "The user denied the request")
        requested = smart_scopes.parse_scopes(pending.scopes)
        chosen = []
        for raw in smart_scopes.split(" ".join(request.POST.getlist("grant_scope"))):
            try:
                scope = smart_scopes.parse_scope(raw)
            except smart_scopes.ScopeError:
                return self.error_page(400, "invalid_scope", f"Unknown scope {raw!r}.")
            if not smart_scopes.is_narrowing(scope, requested):
                return self.error_page(400, "invalid_scope", f"{raw!r} was not requested.")
            chosen.append(raw)
        try:
            self.read_decision(request, pending)
        except DecisionError as exc:
            return self.error_page(400, "invalid_request", str(exc))
        if not chosen:
            return self.fail(request, pending, "access_denied", "The user granted no scope")
        return self.issue(request, pending, chosen)

    # --- outcomes ------------------------------------------------------------------------------
    def issue(self, request, pending, granted):
        """Record the decision and redirect to the client with a code for ``granted``."""
        self.record_decision(request, pending, granted)
        pending.discard(request)
        application = get_application_model().objects.get(client_id=pending.client_id)
        credentials = dict(pending.credentials)
        credentials["smart_context"] = expand_context(
            _context_for(pending.context, granted), pending.audience, request
        )
        credentials["smart_launch"] = pending.launch
        credentials["resource"] = pending.audience
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
            audience=pending.audience,
        )
        return OAuth2ResponseRedirect(uri, application.get_allowed_schemes())

    def fail(self, request, pending, error, description):
        """End ``pending`` with an RFC 6749 §4.1.2.1 error redirect to its client."""
        pending.discard(request)
        application = get_application_model().objects.filter(client_id=pending.client_id).first()
        return self._redirect_error(application, pending.redirect_uri, error, description, pending.state)

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
            return self.error_page(
                oauthlib_error.status_code, oauthlib_error.error, oauthlib_error.description
            )
        return self._redirect_error(
            application,
            oauthlib_error.redirect_uri,
            oauthlib_error.error,
            oauthlib_error.description or oauthlib_error.error,
            oauthlib_error.state,
        )

    def error_page(self, status, error, description):
        """An error shown to the user (no trustworthy redirect URI to send it to)."""
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
