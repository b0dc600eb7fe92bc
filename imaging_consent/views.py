"""The imaging authorization server's dual launch (design approach A, March-2025 text).

The app, already launched at the EHR, sends the EHR's id_token as ``login_hint`` (or
``id_token_hint``). We verify it with the EHR's JWKS, check the app in the EHR's client registry,
then ask the EHR silently (``prompt=none`` + ``id_token_hint``) for a token of our own, read the
patient and the imaging studies the user may see, match our patient, and show the consent
screen of studies. Every hop has its own state, PKCE verifier and nonce, kept in the session.

Built only on smart_auth's public extension points (docs/smart_auth.md, "Extending the
authorization flow"): the hooks of ``SmartAuthorizationView`` and ``PendingAuthorization``.
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
from oauth2_provider.models import get_application_model

from smart_auth.federation import (
    AppIdentity,
    FederationError,
    client_metadata,
    federated_user,
    fhir_read,
    local_patient_for,
    redeem_code,
    same_app,
    trusted_ehr,
    verify_id_token,
)
from smart_auth.remote_launch import without_patient_scopes
from smart_auth.views import (
    AuthorizationError,
    DecisionError,
    PendingAuthorization,
    SmartAuthorizationView,
    param,
)

from .conf import consent_settings
from .models import ImagingConsent
from .studies import local_studies, match_studies


HOP = "imaging_consent:hop:"
SYMMETRIC = ("client_secret_basic", "client_secret_post")


class ImagingAuthorizationView(SmartAuthorizationView):
    def get_template_name(self):
        return consent_settings.CONSENT_TEMPLATE

    # --- the dual launch -----------------------------------------------------------------------
    def external_step(self, request, pending, application, params):
        """A hint from a trusted EHR starts the dual launch: to the EHR, silently."""
        hint = param(params, "login_hint") or param(params, "id_token_hint")
        ehr = _ehr_of(hint)
        if ehr is None:
            return None
        claims = verify_id_token(ehr, hint)
        audience = claims["aud"][0] if isinstance(claims["aud"], list) and claims["aud"] else claims["aud"]
        if not isinstance(audience, str) or not audience:
            raise AuthorizationError("invalid_request", "The id_token names no app")
        metadata = client_metadata(ehr, audience)
        if metadata is None:
            raise AuthorizationError("unauthorized_client", "The EHR does not know this app")
        # RFC 7591: the EHR's registration is this app when the software_ids agree (the EHR's
        # client_id is never compared with our software_id).
        if not same_app(AppIdentity(audience, metadata.get("software_id") or ""), application):
            raise AuthorizationError("invalid_request", "The id_token was issued to another app")
        _check_registry(metadata, pending.redirect_uri)
        pending.id_token_hint = None  # an EHR token, not ours: it only drives the EHR hop
        pending.extra["dual"] = {"issuer": ehr.issuer, "sub": claims["sub"]}
        pending.save(request)
        return redirect(self._ehr_hop(request, ehr, pending.key, hint))

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
    def resolve_user_and_patient(self, request, pending, application):
        super().resolve_user_and_patient(request, pending, application)
        if pending.launch is None and pending.patient and "studies" not in pending.extra:
            pending.extra["studies"] = local_studies(pending.patient)  # a launch-token launch

    def consent_context(self, request, pending, application):
        context = super().consent_context(request, pending, application)
        context["studies"] = pending.extra.get("studies")
        context["ehr_patient"] = pending.extra.get("ehr_patient")
        return context

    def read_decision(self, request, pending):
        offered = {s["id"] for s in pending.extra.get("studies") or []}
        chosen = request.POST.getlist("study")
        if not set(chosen) <= offered:
            raise DecisionError("That imaging study was not offered.")
        pending.extra["chosen_studies"] = chosen

    def standing_decision(self, request, pending, application):
        remembered = self._remembered(request, pending)
        if remembered is not None:
            pending.context["consent"] = remembered.pk
            return remembered.scope.split()
        return super().standing_decision(request, pending, application)

    def _remembered(self, request, pending):
        if not consent_settings.REMEMBER_CONSENT or pending.extra.get("studies") is None:
            return None
        offered = sorted(s["id"] for s in pending.extra["studies"])
        for consent in ImagingConsent.objects.filter(
            user=request.user,
            application__client_id=pending.client_id,
            patient=pending.patient or "",
            revoked__isnull=True,
        ):
            if sorted(consent.studies) == offered and set(consent.scope.split()) == set(pending.scopes):
                return consent
        return None

    def record_decision(self, request, pending, granted):
        studies = pending.extra.get("studies")
        if studies is None or "consent" in pending.context:
            return
        chosen = pending.extra.get("chosen_studies", [])
        consent = ImagingConsent.objects.create(
            user=request.user,
            application=get_application_model().objects.get(client_id=pending.client_id),
            patient=pending.patient or "",
            ehr_patient=pending.extra.get("ehr_patient") or "",
            studies=chosen,
            study_labels=[s["label"] for s in studies if s["id"] in chosen],
            scope=" ".join(granted),
        )
        pending.context["consent"] = consent.pk


def _check_registry(metadata, redirect_uri):
    """Only public clients with a matching redirect URI and asymmetric confidential clients may
    use the dual launch (March-2025 text: the client registry check)."""
    method = metadata.get("token_endpoint_auth_method")
    if method in SYMMETRIC:
        raise AuthorizationError(
            "unauthorized_client", "Apps with a shared secret cannot use the dual launch"
        )
    if method == "none" and redirect_uri not in metadata.get("redirect_uris", []):
        raise AuthorizationError(
            "unauthorized_client", "The redirect URI is not registered for this app at the EHR"
        )
    if method not in ("none", "private_key_jwt"):
        raise AuthorizationError("unauthorized_client", "Unsupported client type for the dual launch")


def _ehr_of(hint):
    """The trusted EHR that issued ``hint`` (unverified ``iss``); None for no hint or one of our
    own id_tokens; AuthorizationError for an id_token of anybody else."""
    if not hint or hint.count(".") != 2:
        return None
    try:
        issuer = jwt.decode(hint, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError as exc:
        raise AuthorizationError("invalid_request", "The hint is not a readable id_token") from exc
    from oauth2_provider.settings import oauth2_settings

    if issuer and issuer == oauth2_settings.OIDC_ISS_ENDPOINT:
        return None
    ehr = trusted_ehr(issuer) if isinstance(issuer, str) and issuer else None
    if ehr is None:
        raise AuthorizationError("invalid_request", f"{issuer!r} is not a trusted EHR")
    return ehr


@xframe_options_deny
def ehr_callback(request):
    """The EHR's answer to our silent request: redeem it, read patient and studies, consent."""
    hop = request.session.pop(HOP + request.GET.get("state", ""), None)
    view = ImagingAuthorizationView.for_request(request)
    if hop is None:
        return view.error_page(400, "invalid_request", "Unknown or replayed state.")
    pending = PendingAuthorization.load(request, hop["pending"])
    if pending is None:
        return view.error_page(400, "invalid_request", "This authorization request has expired.")
    ehr = trusted_ehr(hop["issuer"])
    if request.GET.get("iss") != ehr.issuer:
        return view.fail(
            request, pending, "invalid_request", "Mix-up defence: the EHR response has a wrong iss"
        )
    if "error" in request.GET:
        # login_required, consent_required, interaction_required: passed on with the app's state.
        return view.fail(request, pending, request.GET["error"], request.GET.get("error_description", ""))
    try:
        token = redeem_code(ehr, request.GET.get("code", ""), hop["redirect_uri"], hop["verifier"])
        claims = verify_id_token(ehr, token.get("id_token", ""), audience=ehr.client_id)
        if claims.get("nonce") != hop["nonce"]:
            raise FederationError("invalid_request", "The EHR id_token nonce does not match")
        if claims["sub"] != pending.extra["dual"]["sub"]:
            raise FederationError("login_required", "The EHR session belongs to another user")
        _attach_patient_and_studies(ehr, token, pending)
        user = federated_user(ehr, claims["sub"], claims.get("fhirUser"), claims.get("name", ""))
    except (FederationError, AuthorizationError) as exc:
        return view.fail(request, pending, exc.error, exc.description)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    try:
        view.bind_user(request, pending)  # fhirUser; a patient user only for themself
    except AuthorizationError as exc:
        return view.fail(request, pending, exc.error, exc.description)
    return view.continue_authorization(request, pending)


def _attach_patient_and_studies(ehr, token, pending):
    ehr_patient = token.get("patient")
    local = None
    studies = []
    if ehr_patient:
        # Matched on the trusted identifier systems, read with our own backend token.
        local = local_patient_for(ehr, ehr_patient)
        if local:
            bundle = fhir_read(
                ehr, f"ImagingStudy?patient={ehr_patient}&_count=100", token=token["access_token"]
            )
            studies = match_studies(bundle, local)
    pending.extra["ehr_patient"] = ehr_patient
    if local:
        pending.context = {"patient": local, "need_patient_banner": True}
        pending.extra["studies"] = studies
    else:
        pending.scopes = without_patient_scopes(pending.scopes)
        if not pending.scopes:
            raise AuthorizationError("invalid_scope", "No patient here matches the EHR's patient")
        pending.extra["studies"] = []


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
