"""Token, introspection, revocation and EHR-launch endpoints (subclasses of DOT's views)."""

import base64
import hashlib
import json
from urllib.parse import unquote_plus, urlsplit

from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import connections, router, transaction
from django.db.models import F
from django.http import HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider.compat import login_not_required
from oauth2_provider.models import get_access_token_model, get_application_model, get_refresh_token_model
from oauth2_provider.signals import app_authorized
from oauth2_provider.views import RevokeTokenView, ScopedProtectedResourceView, TokenView

from ..audit import record
from ..conf import smart_auth_settings
from ..hooks import issuer_for
from ..launch import create_launch, launch_url
from ..limits import InputError, json_value, request_problem
from ..registration import client_metadata
from ..resources import governed, normalize
from ..row_locks import sqlite_row_lock


FORM = "application/x-www-form-urlencoded"
# The launch API's text fields, at most the length their LaunchContext columns hold.
LAUNCH_FIELD_LIMITS = {
    "client_id": 255,
    "patient": 64,
    "encounter": 64,
    "intent": 255,
    "tenant": 255,
    "smart_style_url": 500,
    "iss": 500,
}


def _oauth_error(error, description, status=400):
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def challenge(request, status, error, description, bearer=True, scope=None):
    """An OAuth error with its ``WWW-Authenticate`` challenge (RFC 6749 §5.2, RFC 6750 §3)."""
    response = _oauth_error(error, description, status=status)
    realm = f'realm="{issuer_for(request)}"'
    if bearer:
        extra = f', scope="{scope}"' if scope and error == "insufficient_scope" else ""
        response["WWW-Authenticate"] = f'Bearer {realm}, error="{error}"{extra}'
    else:
        response["WWW-Authenticate"] = f"Basic {realm}, Bearer {realm}"
    return response


def bearer_refusal(view, request, scope):
    """Why ``view`` refused the request's bearer token: 403 ``insufficient_scope`` for a valid
    token without ``scope``, 401 ``invalid_token`` otherwise (RFC 6750 §3.1)."""
    if view.get_oauthlib_core().verify_request(request, scopes=[])[0]:
        lacking = f"The token lacks the {scope} scope"
        return challenge(request, 403, "insufficient_scope", lacking, scope=scope)
    if not request.headers.get("Authorization"):
        response = challenge(request, 401, "invalid_token", "A bearer token is required")
        response["WWW-Authenticate"] = f'Bearer realm="{issuer_for(request)}"'  # no error code
        return response
    return challenge(request, 401, "invalid_token", "The access token is not valid")


def _cors(response, request):
    # The token and introspection endpoints take no cookies: any origin may call them (SMART
    # requires CORS on the token endpoint for browser-based public clients).
    if request.headers.get("Origin"):
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    return response


def _client_id_of(request):
    client_id = request.POST.get("client_id", "")
    auth = request.headers.get("Authorization", "")
    if not client_id and auth.startswith("Basic "):
        try:
            client_id = unquote_plus(base64.b64decode(auth[6:]).decode().split(":", 1)[0])
        except (ValueError, UnicodeDecodeError):
            client_id = ""
    return client_id


def lock_refresh_token(value, db):
    """Write-lock the rows of refresh token ``value`` until the transaction ends (a no-op
    UPDATE: SQLite has no row locks and ignores SELECT … FOR UPDATE)."""
    checksum = hashlib.sha256(value.encode()).hexdigest()
    model = get_refresh_token_model()
    model.objects.using(db).filter(token_checksum=checksum).update(updated=F("updated"))


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(login_not_required, name="dispatch")
class SmartTokenView(TokenView):
    def options(self, request, *args, **kwargs):
        return _cors(JsonResponse({}), request)

    def post(self, request, *args, **kwargs):
        content_type = request.content_type or ""
        if content_type != FORM:
            return _cors(_oauth_error("invalid_request", f"The token request must be {FORM}"), request)
        problem = request_problem(request)
        if problem:
            return _cors(_oauth_error("invalid_request", problem), request)
        db = router.db_for_write(get_access_token_model())
        sqlite = connections[db].vendor == "sqlite"
        if request.POST.get("grant_type") == "refresh_token" and sqlite:
            # SQLite has no row lock: a lock keyed by the token does its job, so that refreshes
            # of other tokens do not wait (the database's single write lock is taken only by
            # the short write transactions inside; the rotation re-checks the token there).
            presented = request.POST.get("refresh_token", "")
            with sqlite_row_lock(connections[db], hashlib.sha256(presented.encode()).hexdigest()):
                response = super().post(request, *args, **kwargs)
                self._audit(request, response)
        elif request.POST.get("grant_type") == "refresh_token":
            # Refreshes with one token run one after another (RFC 9700 §4.14.2): the first
            # statement write-locks the presented token's row, so a second request sees the
            # token already rotated and its replay revokes the family.
            with transaction.atomic(using=db):
                lock_refresh_token(request.POST.get("refresh_token", ""), db)
                response = super().post(request, *args, **kwargs)
                self._audit(request, response)
        elif sqlite:
            # SQLite (transaction_mode=IMMEDIATE) would hold its single write lock for the
            # whole request: keep the short per-step transactions there.
            response = super().post(request, *args, **kwargs)
            self._audit(request, response)
        else:
            # One commit per token request: the assertion's jti, the token rows, the code's
            # redemption and the audit event become durable together (an error response still
            # commits, so a refused request's jti and its audit record stay).
            with transaction.atomic(using=db):
                response = super().post(request, *args, **kwargs)
                self._audit(request, response)
        if not response.get("Content-Type", "").startswith("application/json"):
            # oauthlib answers an error raised while tokens are saved without its JSON headers.
            response["Content-Type"] = "application/json"
        return _cors(response, request)

    @method_decorator(sensitive_post_parameters("password", "client_secret"))
    def authorization_flow_token_response(self, request, *args, **kwargs):
        if app_authorized.has_listeners():
            return super().authorization_flow_token_response(request, *args, **kwargs)
        # DOT's TokenView.authorization_flow_token_response without reloading the issued token,
        # which it does only to send app_authorized (one SELECT and a model per issuance).
        # Pinned by tests/smart_auth/test_dot_pins.py.
        url, headers, body, status = self.create_token_response(request)
        response = HttpResponse(content=body, status=status)
        for key, value in headers.items():
            response[key] = value
        return response

    def _audit(self, request, response):
        grant_type = request.POST.get("grant_type", "")
        try:
            body = json.loads(response.content or b"{}")
        except ValueError:
            body = {}
        if response.status_code == 200:
            record(
                "issued",
                grant_type or "token",
                client_id=_client_id_of(request) or self._client_from_assertion(request),
                patient=body.get("patient", ""),
                scope=body.get("scope", ""),
            )
        else:
            record(
                "refused",
                grant_type or "token",
                client_id=_client_id_of(request) or self._client_from_assertion(request),
                detail=f"{body.get('error', response.status_code)}: {body.get('error_description', '')}",
            )

    def _client_from_assertion(self, request):
        from ..oauth2.client_auth import unverified_issuer

        assertion = request.POST.get("client_assertion")
        return (unverified_issuer(assertion) or "") if assertion else ""


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(login_not_required, name="dispatch")
class SmartRevokeTokenView(RevokeTokenView):
    def post(self, request, *args, **kwargs):
        problem = request_problem(request)
        if problem:
            return _oauth_error("invalid_request", problem)
        return super().post(request, *args, **kwargs)


class LaunchView(LoginRequiredMixin, View):
    """POST: the signed-in EHR user mints an EHR launch for an app and a patient they may see.

    Returns ``{"launch": …, "launch_url": …, "iss": …}``. Session-authenticated and
    CSRF-protected: the host EHR's own pages call it.
    """

    raise_exception = True

    def post(self, request, *args, **kwargs):
        problem = request_problem(request)
        if problem:
            return _oauth_error("invalid_request", problem)
        data = request.POST
        too_long = [name for name, limit in LAUNCH_FIELD_LIMITS.items() if len(data.get(name, "")) > limit]
        if too_long:
            return _oauth_error("invalid_request", f"Too long: {', '.join(too_long)}")
        application = get_application_model().objects.filter(client_id=data.get("client_id", "")).first()
        if application is None or not getattr(application, "smart", None) or not application.smart.launch_uri:
            return _oauth_error("invalid_request", "Unknown client, or it has no launch URL")
        patient = data.get("patient", "")
        if patient:
            allowed = {str(i) for i, _ in smart_auth_settings.PATIENT_CHOICES(request, request.user)}
            if patient not in allowed:
                return _oauth_error("access_denied", "You may not launch for that patient", status=403)
        try:
            fhir_context = json_value(data.get("fhirContext") or "[]")
        except InputError as exc:
            return _oauth_error("invalid_request", f"fhirContext: {exc}")
        if not isinstance(fhir_context, list) or not all(isinstance(i, dict) for i in fhir_context):
            return _oauth_error("invalid_request", "fhirContext must be a JSON array of objects")
        style = data.get("smart_style_url", "")
        if style and not (urlsplit(style).scheme in ("https", "http") and urlsplit(style).netloc):
            return _oauth_error("invalid_request", "smart_style_url must be an absolute http(s) URL")
        iss = data.get("iss") or next(iter(governed()), "")
        if normalize(iss) not in governed():
            return _oauth_error("invalid_request", "iss must be a FHIR base this server governs")
        launch = create_launch(
            application,
            user=request.user,
            patient=patient,
            encounter=data.get("encounter", ""),
            fhir_context=fhir_context,
            intent=data.get("intent", ""),
            need_patient_banner=data.get("need_patient_banner", "true").lower() != "false",
            smart_style_url=style,
            tenant=data.get("tenant", ""),
        )
        record(
            "launch",
            "launch",
            client_id=application.client_id,
            user=request.user.get_username(),
            patient=patient,
        )
        return JsonResponse(
            {"launch": launch.handle, "launch_url": launch_url(launch, iss), "iss": iss}, status=201
        )


@method_decorator(login_not_required, name="dispatch")
class ClientRegistryView(ScopedProtectedResourceView):
    """``GET o/clients/<client_id>``: an app's public registration, for trusted authorization
    servers (the imaging server's dual launch checks the app against it). Readable with a
    backend-services token that has the ``introspection`` scope; 404 for an unknown client."""

    required_scopes = ["introspection"]

    def unauthenticated_response(self, request, oauthlib_request=None):
        return bearer_refusal(self, request, "introspection")  # DOT's default: a bare 403

    def get(self, request, client_id, *args, **kwargs):
        if getattr(request, "resource_owner", None) is not None:
            return _oauth_error("insufficient_scope", "A backend-services token is required", status=403)
        application = (
            get_application_model().objects.select_related("smart").filter(client_id=client_id).first()
        )
        if application is None or not getattr(application, "smart", None) or not application.smart.enabled:
            return JsonResponse({"error": "not_found"}, status=404)
        return JsonResponse(client_metadata(application))
