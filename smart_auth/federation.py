"""Trust in another deployment's authorization server (the EHR, seen from the imaging server).

A trusted EHR is configured in ``SMART_AUTH["TRUSTED_EHRS"]``. This module talks to it the way
the multi-server designs say: a SMART backend-services token (``private_key_jwt``) to call its
introspection endpoint and FHIR API, its JWKS to verify its id_tokens. Used by launch-tokens
(``launch=<launch-token>``), RFC 8693 token exchange and the imaging dual launch.
"""

import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import jwt
import requests

from .conf import smart_auth_settings
from .directory import patient_directory
from .jwks import JWKSCache, JWKSFetchError, select_key


log = logging.getLogger(__name__)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class FederationError(Exception):
    """The trusted server refused, could not be reached, or vouched for nothing usable."""

    def __init__(self, error, description):
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass
class TrustedEHR:
    issuer: str
    fhir_base: str
    client_id: str
    private_key: str = field(repr=False)  # never in a repr, a log line or an error page
    kid: str
    alg: str = "RS384"
    token_endpoint: str = ""
    introspection_endpoint: str = ""
    authorization_endpoint: str = ""
    jwks_uri: str = ""
    client_registry: str = ""
    patient_identifier_systems: list = field(default_factory=list)
    scope: str = "system/Patient.rs system/ImagingStudy.rs introspection"
    timeout: float = 5.0

    def __post_init__(self):
        issuer = self.issuer.rstrip("/")
        self.token_endpoint = self.token_endpoint or f"{issuer}/token/"
        self.introspection_endpoint = self.introspection_endpoint or f"{issuer}/introspect/"
        self.authorization_endpoint = self.authorization_endpoint or f"{issuer}/authorize/"
        self.jwks_uri = self.jwks_uri or f"{issuer}/.well-known/jwks.json"
        self.client_registry = self.client_registry or f"{issuer}/clients/"
        self.fhir_base = self.fhir_base.rstrip("/")


_jwks = JWKSCache()
_tokens = {}  # issuer -> (expires_at, access_token)
_lock = threading.Lock()
_http = requests.Session()


def trusted_ehrs():
    return [TrustedEHR(**config) for config in smart_auth_settings.TRUSTED_EHRS]


def trusted_ehr(issuer=None):
    """The trusted EHR with this issuer (or the only one, when ``issuer`` is None)."""
    ehrs = trusted_ehrs()
    if issuer is None:
        return ehrs[0] if len(ehrs) == 1 else None
    for ehr in ehrs:
        if ehr.issuer.rstrip("/") == issuer.rstrip("/"):
            return ehr
    return None


def client_assertion(ehr):
    now = int(time.time())
    claims = {
        "iss": ehr.client_id,
        "sub": ehr.client_id,
        "aud": ehr.token_endpoint,
        "exp": now + 240,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, ehr.private_key, algorithm=ehr.alg, headers={"kid": ehr.kid, "typ": "JWT"})


def backend_token(ehr):
    """A backend-services access token from the EHR (cached until shortly before it expires)."""
    with _lock:
        cached = _tokens.get(ehr.issuer)
        if cached and cached[0] > time.time() + 15:
            return cached[1]
    data = {
        "grant_type": "client_credentials",
        "scope": ehr.scope,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(ehr),
    }
    response = _post(ehr, ehr.token_endpoint, data)
    if response.status_code != 200:
        raise FederationError(
            "temporarily_unavailable", f"The EHR refused our backend token: {response.text[:200]}"
        )
    body = _json(response, "backend token")
    if not isinstance(body.get("access_token"), str):
        raise FederationError("temporarily_unavailable", "The EHR's token response has no access_token")
    with _lock:
        _tokens[ehr.issuer] = (time.time() + int(body.get("expires_in", 60)), body["access_token"])
    return body["access_token"]


def redeem_code(ehr, code, redirect_uri, verifier):
    """Exchange an authorization code the EHR gave us (as its client, private_key_jwt + PKCE)."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(ehr),
    }
    response = _post(ehr, ehr.token_endpoint, data)
    if response.status_code != 200:
        raise FederationError("access_denied", f"The EHR refused our code: {response.text[:200]}")
    return _json(response, "token response")


def introspect(ehr, token):
    """The EHR's introspection of ``token`` (an access token or a launch-token)."""
    response = _post(
        ehr,
        ehr.introspection_endpoint,
        {"token": token},
        headers={"Authorization": f"Bearer {backend_token(ehr)}", "Accept": "application/json"},
    )
    if response.status_code != 200:
        raise FederationError("temporarily_unavailable", f"EHR introspection failed ({response.status_code})")
    return _json(response, "introspection")


def fhir_read(ehr, path, token=None):
    """GET ``{ehr fhir base}/{path}`` with a backend token (or the given one)."""
    url = f"{ehr.fhir_base}/{path.lstrip('/')}"
    try:
        response = _http.get(
            url,
            timeout=ehr.timeout,
            headers={
                "Authorization": f"Bearer {token or backend_token(ehr)}",
                "Accept": "application/fhir+json",
            },
        )
    except requests.RequestException as exc:
        raise FederationError("temporarily_unavailable", f"The EHR's FHIR API is unreachable: {exc}") from exc
    if response.status_code != 200:
        raise FederationError("invalid_request", f"The EHR answered {response.status_code} for {path}")
    return _json(response, path)


def client_metadata(ehr, client_id):
    """The EHR's registry entry for an app (``GET {issuer}/clients/{client_id}``), or None."""
    url = f"{ehr.client_registry}{client_id}"
    try:
        response = _http.get(
            url, timeout=ehr.timeout, headers={"Authorization": f"Bearer {backend_token(ehr)}"}
        )
    except requests.RequestException as exc:
        raise FederationError(
            "temporarily_unavailable", f"The EHR client registry is unreachable: {exc}"
        ) from exc
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise FederationError(
            "temporarily_unavailable", f"The EHR client registry answered {response.status_code}"
        )
    return _json(response, "client registry")


def verify_id_token(ehr, id_token, audience=None, verify_exp=True):
    """Claims of an id_token the EHR signed (signature by its JWKS, issuer, audience, expiry)."""
    try:
        header = jwt.get_unverified_header(id_token)
        jwks = _jwks.get(ehr.jwks_uri, kid=header.get("kid"))
    except (jwt.PyJWTError, JWKSFetchError) as exc:
        raise FederationError("invalid_request", f"id_token cannot be checked: {exc}") from exc
    key = select_key(jwks, header.get("kid"), header.get("alg", ""))
    if key is None or header.get("alg") != "RS256":
        raise FederationError("invalid_request", "id_token is not signed by a key of the trusted EHR")
    try:
        return jwt.decode(
            id_token,
            key=key,
            algorithms=["RS256"],
            issuer=ehr.issuer,
            audience=audience,
            options={
                "verify_aud": audience is not None,
                "verify_exp": verify_exp,
                "require": ["iss", "sub", "aud", "exp"],
            },
        )
    except jwt.PyJWTError as exc:
        raise FederationError("invalid_request", f"id_token rejected: {exc}") from exc


def _json(response, what):
    """The EHR's JSON object answer; anything else is the EHR failing us, never our 500."""
    try:
        body = response.json()
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested beyond reason
        raise FederationError("temporarily_unavailable", f"The EHR's {what} is not JSON") from exc
    if not isinstance(body, dict):
        raise FederationError("temporarily_unavailable", f"The EHR's {what} is not a JSON object")
    return body


def _post(ehr, url, data, headers=None):
    try:
        return _http.post(url, data=data, headers=headers or {}, timeout=ehr.timeout)
    except requests.RequestException as exc:
        raise FederationError("temporarily_unavailable", f"{url} is unreachable: {exc}") from exc


# --- app identity -------------------------------------------------------------------------------
@dataclass(frozen=True)
class AppIdentity:
    """Who a registration is: RFC 7591 ``software_id`` (shared by one app's registrations at
    several servers) and the ``client_id`` one server assigned."""

    client_id: str
    software_id: str = ""


def identity_of(application):
    smart = getattr(application, "smart", None)
    return AppIdentity(application.client_id, (smart.software_id if smart else "") or "")


def same_app(remote, application):
    """Whether the app the EHR vouched for (``remote``) is ``application``: the same
    ``software_id`` when both registrations have one, the same ``client_id`` when neither has;
    a ``software_id`` is never compared with a ``client_id`` (one side without: not the same)."""
    local = identity_of(application)
    if remote.software_id and local.software_id:
        return remote.software_id == local.software_id
    if not remote.software_id and not local.software_id:
        return bool(remote.client_id) and remote.client_id == local.client_id
    return False


def remote_identity(ehr, client_id, software_id=None):
    """The EHR-side identity of ``client_id``: the ``software_id`` its introspection stated,
    else the one in its client registry (``GET {issuer}/clients/{client_id}``)."""
    if not client_id or not isinstance(client_id, str):
        raise FederationError("invalid_request", "The EHR named no client for this token")
    if software_id:
        return AppIdentity(client_id, str(software_id))
    metadata = client_metadata(ehr, client_id)
    if metadata is None:
        raise FederationError("invalid_request", "The token was issued to an app the EHR does not know")
    return AppIdentity(client_id, metadata.get("software_id") or "")


def require_same_app(ehr, application, client_id, software_id=None, what="token"):
    if not same_app(remote_identity(ehr, client_id, software_id), application):
        raise FederationError("invalid_request", f"The {what} was issued to another app")


# --- patient matching ---------------------------------------------------------------------------
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def ehr_patient_identifiers(ehr, patient_id):
    """The identifiers of the EHR's Patient, read with our own backend token (never a token the
    app or the user holds, which could be scoped to edit that Patient)."""
    if not isinstance(patient_id, str) or not FHIR_ID.match(patient_id):
        return []
    return fhir_read(ehr, f"Patient/{patient_id}").get("identifier", [])


def match_patient(identifiers, systems):
    """Default ``PATIENT_MATCHER``: the one local patient carrying an identifier of a system the
    trust configuration names; None when there is none, or several (ambiguous)."""
    directory = patient_directory()
    found = set()
    for identifier in identifiers if isinstance(identifiers, list) else []:
        if not isinstance(identifier, dict):
            continue
        system, value = identifier.get("system"), identifier.get("value")
        if not isinstance(system, str) or not isinstance(value, str) or not value:
            continue
        if system not in (systems or ()):
            continue  # only identifier systems the imaging side trusts for matching
        found.update(directory.with_identifier(system, value))
    return found.pop() if len(found) == 1 else None


def local_patient_for(ehr, ehr_patient_id):
    """Our patient id for the EHR's ``ehr_patient_id`` (None when none or several match)."""
    identifiers = ehr_patient_identifiers(ehr, ehr_patient_id)
    return smart_auth_settings.PATIENT_MATCHER(identifiers, ehr.patient_identifier_systems)


# --- federated users ----------------------------------------------------------------------------
def absolute_reference(ehr, reference):
    """The EHR's ``fhirUser`` as an absolute URL: a relative reference is the EHR's, never ours."""
    if not isinstance(reference, str) or not reference:
        return ""
    if "://" in reference:
        return reference
    return f"{ehr.fhir_base}/{reference.lstrip('/')}"


def local_fhir_user(ehr, reference):
    """Our ``fhirUser`` for an EHR user: ``Patient/<ours>`` for an EHR Patient we match; else the
    absolute EHR URL, which no local rule reads as a local resource."""
    absolute = absolute_reference(ehr, reference)
    prefix = f"{ehr.fhir_base}/Patient/"
    if absolute.startswith(prefix):
        local = local_patient_for(ehr, absolute[len(prefix) :])
        return f"Patient/{local}" if local else absolute
    return absolute


def federated_user(ehr, subject, fhir_user=None, name=""):
    """Our user for the EHR user ``subject`` (made on first sight, no local password), with the
    ``fhirUser`` mapping the EHR vouches for now (none: the user reaches no patient data)."""
    from django.contrib.auth import get_user_model

    from .models import SmartUser

    username = f"{subject}@{urlsplit(ehr.issuer).netloc}"
    if len(username) > 150:  # cut short, two issuers' subjects could name one local user
        raise FederationError("invalid_request", "The EHR user's subject is too long to map to a local user")
    user, created = get_user_model().objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.first_name = (name or "")[:150]
        user.save(update_fields=["password", "first_name"])
    reference = local_fhir_user(ehr, fhir_user)[:255]
    if reference:
        SmartUser.objects.update_or_create(user=user, defaults={"fhir_user": reference})
    else:
        SmartUser.objects.filter(user=user).delete()
    return user
