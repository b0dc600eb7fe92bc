"""The imaging authorization server's dual launch (design approach A, March-2025 text).

The app, already launched at the EHR, sends the EHR's id_token as ``login_hint`` (or
``id_token_hint``). We verify it with the EHR's JWKS, check the app in the EHR's client registry,
then ask the EHR silently (``prompt=none`` + ``id_token_hint``) for a token of our own, read the
patient and the imaging studies the user may see, match our patient, and show the consent
screen of studies. Every hop has its own state, PKCE verifier and nonce, kept in the session.
"""

import base64
import hashlib
import secrets
from urllib.parse import urlencode

import jwt
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.http import require_POST
from oauth2_provider.exceptions import FatalClientError, OAuthToolkitError

from smart_auth.federation import (
    FederationError,
    client_metadata,
    fhir_read,
    redeem_code,
    same_app,
    trusted_ehr,
    verify_id_token,
)
from smart_auth.oauth2.token_exchange import federated_user
from smart_auth.remote_launch import without_patient_scopes
from smart_auth.resources import AudienceError
from smart_auth.views.authorize import PENDING, SmartAuthorizationView, _value

from .conf import consent_settings
from .models import ImagingConsent
from .studies import local_studies, match_studies


HOP = "imaging_consent:hop:"
SYMMETRIC = ("client_secret_basic", "client_secret_post")


class ImagingAuthorizationView(SmartAuthorizationView):
    def get_template_name(self):
        return consent_settings.CONSENT_TEMPLATE

    # --- the dual launch -----------------------------------------------------------------------
    def authorize(self, request, params):
        hint = _value(params, "login_hint") or _value(params, "id_token_hint")
        try:
            ehr = _ehr_of(hint)
        except UntrustedHint as exc:
            ehr, untrusted = None, str(exc)
        else:
            untrusted = None
            if ehr is None:
                return super().authorize(request, params)
        try:
            scopes, credentials = self._validate(params)
        except FatalClientError as error:
            e = error.oauthlib_error
            return self._error_page(e.status_code, e.error, e.description)
        except OAuthToolkitError as error:
            return self._redirect_error_from(error, credentials_client=_value(params, "client_id"))
        application = credentials["request"].client
        redirect_uri, state = credentials["redirect_uri"], credentials.get("state")
        try:
            pending = self._build_pending(request, params, scopes, credentials, application)
            if untrusted:
                raise AudienceError("invalid_request", untrusted)
            claims = verify_id_token(ehr, hint)
            audience = claims["aud"][0] if isinstance(claims["aud"], list) else claims["aud"]
            if not same_app(audience, None, application):
                raise AudienceError("invalid_request", "The id_token was issued to another app")
            self._check_registry(ehr, audience, redirect_uri)
        except (AudienceError, FederationError) as exc:
            return self._redirect_error(application, redirect_uri, exc.error, exc.description, state)
        pending["id_token_hint"] = None  # an EHR token, not ours: it only drives the EHR hop
        pending["dual"] = {"issuer": ehr.issuer, "sub": claims["sub"]}
        key = secrets.token_urlsafe(24)
        request.session[PENDING + key] = pending
        return redirect(self._ehr_hop(request, ehr, key, hint))

    def _check_registry(self, ehr, client_id, redirect_uri):
        """Only public clients with a matching redirect URI and asymmetric confidential clients
        may use the dual launch (March-2025 text: the client registry check)."""
        metadata = client_metadata(ehr, client_id)
        if metadata is None:
            raise AudienceError("unauthorized_client", "The EHR does not know this app")
        method = metadata.get("token_endpoint_auth_method")
        if method in SYMMETRIC:
            raise AudienceError("unauthorized_client", "Apps with a shared secret cannot use the dual launch")
        if method == "none" and redirect_uri not in metadata.get("redirect_uris", []):
            raise AudienceError(
                "unauthorized_client", "The redirect URI is not registered for this app at the EHR"
            )
        if method not in ("none", "private_key_jwt"):
            raise AudienceError("unauthorized_client", "Unsupported client type for the dual launch")

    def _ehr_hop(self, request, ehr, key, hint):
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        redirect_uri = request.build_absolute_uri(reverse("imaging_consent:ehr-callback"))
        request.session[HOP + state] = {
            "pending": key,
            "verifier": verifier,
            "nonce": nonce,
            "redirect_uri": redirect_uri,
            "issuer": ehr.issuer,
        }
        query = {
            "response_type": "code",
            "client_id": ehr.client_id,
            "redirect_uri": redirect_uri,
            "scope": consent_settings.EHR_SCOPE,
            "state": state,
            "nonce": nonce,
            "aud": ehr.fhir_base,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "prompt": "none",
            "id_token_hint": hint,
        }
        return f"{ehr.authorization_endpoint}?{urlencode(query)}"

    # --- consent -------------------------------------------------------------------------------
    def _resolve_launch(self, request, pending, application):
        super()._resolve_launch(request, pending, application)
        patient = pending["context"].get("patient")
        if pending.get("launch") is None and patient and "studies" not in pending:
            pending["studies"] = local_studies(patient)  # a launch-token launch: our own studies

    def consent_context(self, request, key, pending, application):
        context = super().consent_context(request, key, pending, application)
        context["studies"] = pending.get("studies")
        context["ehr_patient"] = pending.get("ehr_patient")
        return context

    def _next_step(self, request, key):
        pending = request.session[PENDING + key]
        remembered = self._remembered(request, pending)
        if remembered is not None and not self._needs_picker(request, pending):
            pending["context"]["consent"] = remembered.pk
            request.session[PENDING + key] = pending
            return super()._issue(request, key, remembered.scope.split())
        return super()._next_step(request, key)

    def _remembered(self, request, pending):
        if not consent_settings.REMEMBER_CONSENT or pending.get("studies") is None:
            return None
        offered = sorted(s["id"] for s in pending["studies"])
        for consent in ImagingConsent.objects.filter(
            user=request.user,
            application__client_id=pending["client_id"],
            patient=pending["context"].get("patient", ""),
            revoked__isnull=True,
        ):
            if sorted(consent.studies) == offered and set(consent.scope.split()) == set(pending["scopes"]):
                return consent
        return None

    def decide(self, request, key):
        pending = request.session.get(PENDING + key)
        if pending and pending.get("studies") is not None and request.POST.get("action") == "approve":
            offered = {s["id"]: s for s in pending["studies"]}
            chosen = request.POST.getlist("study")
            if not set(chosen) <= set(offered):
                return self._error_page(400, "invalid_request", "That imaging study was not offered.")
            pending["chosen_studies"] = chosen
            request.session[PENDING + key] = pending
        return super().decide(request, key)

    def _issue(self, request, key, granted):
        pending = request.session[PENDING + key]
        if pending.get("studies") is not None and "consent" not in pending["context"]:
            chosen = pending.get("chosen_studies", [])
            labels = [s["label"] for s in pending["studies"] if s["id"] in chosen]
            consent = ImagingConsent.objects.create(
                user=request.user,
                application=self._application(pending),
                patient=pending["context"].get("patient", ""),
                ehr_patient=pending.get("ehr_patient") or "",
                studies=chosen,
                study_labels=labels,
                scope=" ".join(granted),
            )
            pending["context"]["consent"] = consent.pk
            request.session[PENDING + key] = pending
        return super()._issue(request, key, granted)

    def _application(self, pending):
        from oauth2_provider.models import get_application_model

        return get_application_model().objects.get(client_id=pending["client_id"])


class UntrustedHint(Exception):
    pass


def _ehr_of(hint):
    """The trusted EHR that issued ``hint`` (unverified ``iss``); None for no hint or one of our
    own id_tokens; UntrustedHint for an id_token of anybody else."""
    if not hint or hint.count(".") != 2:
        return None
    try:
        issuer = jwt.decode(hint, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError as exc:
        raise UntrustedHint("The hint is not a readable id_token") from exc
    from oauth2_provider.settings import oauth2_settings

    if issuer and issuer == oauth2_settings.OIDC_ISS_ENDPOINT:
        return None
    ehr = trusted_ehr(issuer) if issuer else None
    if ehr is None:
        raise UntrustedHint(f"{issuer!r} is not a trusted EHR")
    return ehr


@xframe_options_deny
def ehr_callback(request):
    """The EHR's answer to our silent request: redeem it, read patient and studies, consent."""
    hop = request.session.pop(HOP + request.GET.get("state", ""), None)
    view = ImagingAuthorizationView()
    view.setup(request)
    if hop is None:
        return view._error_page(400, "invalid_request", "Unknown or replayed state.")
    key = hop["pending"]
    pending = request.session.get(PENDING + key)
    if pending is None:
        return view._error_page(400, "invalid_request", "This authorization request has expired.")
    ehr = trusted_ehr(hop["issuer"])
    if request.GET.get("iss") != ehr.issuer:
        return view._fail_pending(
            request, key, "invalid_request", "Mix-up defence: the EHR response has a wrong iss"
        )
    if "error" in request.GET:
        # login_required, consent_required, interaction_required: passed on with the app's state.
        return view._fail_pending(
            request, key, request.GET["error"], request.GET.get("error_description", "")
        )
    try:
        token = redeem_code(ehr, request.GET.get("code", ""), hop["redirect_uri"], hop["verifier"])
        claims = verify_id_token(ehr, token.get("id_token", ""), audience=ehr.client_id)
        if claims.get("nonce") != hop["nonce"]:
            raise FederationError("invalid_request", "The EHR id_token nonce does not match")
        if claims["sub"] != pending["dual"]["sub"]:
            raise FederationError("login_required", "The EHR session belongs to another user")
        _attach_patient_and_studies(ehr, token, pending)
    except (FederationError, AudienceError) as exc:
        return view._fail_pending(request, key, exc.error, exc.description)
    user = federated_user(ehr, claims["sub"], claims.get("fhirUser"), claims.get("name", ""))
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[PENDING + key] = pending
    return view._next_step(request, key)


def _attach_patient_and_studies(ehr, token, pending):
    from smart_auth.conf import smart_auth_settings

    ehr_patient = token.get("patient")
    local = None
    studies = []
    if ehr_patient:
        patient = fhir_read(ehr, f"Patient/{ehr_patient}", token=token["access_token"])
        local = smart_auth_settings.PATIENT_MATCHER(
            patient.get("identifier", []), ehr.patient_identifier_systems
        )
        if local:
            bundle = fhir_read(
                ehr, f"ImagingStudy?patient={ehr_patient}&_count=100", token=token["access_token"]
            )
            studies = match_studies(bundle, local)
    pending["ehr_patient"] = ehr_patient
    if local:
        pending["context"] = {"patient": local, "need_patient_banner": True}
        pending["studies"] = studies
    else:
        pending["scopes"] = without_patient_scopes(pending["scopes"])
        if not pending["scopes"]:
            raise AudienceError("invalid_scope", "No patient here matches the EHR's patient")
        pending["studies"] = []


@login_required
def consent_list(request):
    consents = ImagingConsent.objects.filter(user=request.user).select_related("application")
    return render(request, "imaging_consent/consents.html", {"consents": consents})


@login_required
@require_POST
def revoke(request, pk):
    consent = get_object_or_404(ImagingConsent, pk=pk, user=request.user)
    if consent.active:
        consent.revoke()
    return redirect("imaging_consent:consents")
