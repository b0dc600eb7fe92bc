"""Trust in another deployment's authorization server (the EHR, seen from the imaging server).

A trusted EHR is configured in ``SMART_AUTH["TRUSTED_EHRS"]``. This module talks to it the way
the multi-server designs say: a SMART backend-services token (``private_key_jwt``) to call its
introspection endpoint and FHIR API, its JWKS to verify its id_tokens. Used by launch-tokens
(``launch=<launch-token>``), RFC 8693 token exchange and the imaging dual launch.
"""

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

import jwt
import requests
from django.apps import apps

from .conf import smart_auth_settings
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
    body = response.json()
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
    return response.json()


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
    return response.json()


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
    return response.json()


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
    return response.json()


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


def _post(ehr, url, data, headers=None):
    try:
        return _http.post(url, data=data, headers=headers or {}, timeout=ehr.timeout)
    except requests.RequestException as exc:
        raise FederationError("temporarily_unavailable", f"{url} is unreachable: {exc}") from exc


# --- patient matching ---------------------------------------------------------------------------
def ehr_patient_identifiers(ehr, patient_id, token=None):
    patient = fhir_read(ehr, f"Patient/{patient_id}", token=token)
    return patient.get("identifier", [])


def match_patient(identifiers, systems):
    """Default ``PATIENT_MATCHER``: our patient with one of ``identifiers`` in ``systems``."""
    if not apps.is_installed("smart_fhir"):
        return None
    from smart_fhir.storage import get_storage

    storage = get_storage()
    for identifier in identifiers:
        system, value = identifier.get("system"), identifier.get("value")
        if not value or (systems and system not in systems):
            continue
        found = storage.search("Patient", {"identifier": [f"{system}|{value}"], "_count": ["2"]}).resources
        if len(found) == 1:
            return found[0]["id"]
    return None


def local_patient_for(ehr, ehr_patient_id, token=None):
    """Our patient id for the EHR's ``ehr_patient_id`` (None when no patient matches)."""
    identifiers = ehr_patient_identifiers(ehr, ehr_patient_id, token=token)
    return smart_auth_settings.PATIENT_MATCHER(identifiers, ehr.patient_identifier_systems)


def same_app(remote_client_id, remote_software_id, application):
    """Whether the app the EHR vouched for is the app asking here (software_id, else client_id)."""
    smart = getattr(application, "smart", None)
    local_identity = (smart.software_id if smart else "") or application.client_id
    remote_identity = remote_software_id or remote_client_id
    return bool(remote_identity) and remote_identity == local_identity
