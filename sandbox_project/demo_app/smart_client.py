"""The demo app's SMART client logic: discovery, authorization hops, token requests.

Every hop keeps its own state, PKCE verifier and nonce in the app's server-side session and
checks the RFC 9207 ``iss`` of the authorization response against the issuer it started with.
"""

import base64
import hashlib
import secrets
import time
import uuid
from urllib.parse import urlencode

import jwt
from django.conf import settings

from sandbox_project.clients import DEMO_CLIENT_IDS
from sandbox_project.keys import client_key_pem, client_kid

from .trace import TracedSession, browser_step


# The app is registered with a different client_id at each deployment (one software_id).
CLIENT_IDS = DEMO_CLIENT_IDS
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FHIR_BASES = {"ehr": lambda: settings.EHR_FHIR_BASE, "imaging": lambda: settings.IMAGING_FHIR_BASE}


class FlowError(Exception):
    pass


def role_of(iss):
    for role, base in FHIR_BASES.items():
        if iss.rstrip("/") == base():
            return role
    raise FlowError(f"Unknown FHIR server {iss}")


def state_of(request):
    session = request.session
    session.setdefault("trace", [])
    session.setdefault("hops", {})
    session.setdefault("servers", {})
    return session


def http(request):
    return TracedSession(state_of(request)["trace"])


def discover(request, iss):
    response = http(request).get(f"{iss.rstrip('/')}/.well-known/smart-configuration")
    if response.status_code != 200:
        raise FlowError(f"Discovery failed at {iss}: {response.status_code}")
    return response.json()


def client_assertion(token_url, role):
    client_id = CLIENT_IDS[role]
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": token_url, "exp": now + 240, "jti": uuid.uuid4().hex}
    return jwt.encode(
        claims, client_key_pem("app"), algorithm="RS384", headers={"kid": client_kid("app"), "typ": "JWT"}
    )


def authorize_url(request, iss, scope, launch=None, extra=None, resources=None):
    """Start one authorization hop and return the URL to send the browser to."""
    role = role_of(iss)
    config = discover(request, iss)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    nonce = secrets.token_urlsafe(16)
    session = state_of(request)
    session["hops"][state] = {
        "role": role,
        "iss": iss,
        "issuer": config.get("issuer"),
        "token_endpoint": config["token_endpoint"],
        "verifier": verifier,
        "nonce": nonce,
        "redirect_uri": f"{settings.APP_URL}/callback/{role}",
        "resources": resources or [],
    }
    session.modified = True
    params = {
        "response_type": "code",
        "client_id": CLIENT_IDS[role],
        "redirect_uri": f"{settings.APP_URL}/callback/{role}",
        "scope": scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if resources:
        params["resource"] = resources  # RFC 8707: several resources in place of aud
    else:
        params["aud"] = iss
    if launch:
        params["launch"] = launch
    params.update(extra or {})
    url = f"{config['authorization_endpoint']}?{urlencode(params, doseq=True)}"
    browser_step(session["trace"], f"Authorization request to the {role} authorization server", url)
    return url


def finish_authorization(request, role, query):
    """Check the authorization response of one hop and exchange its code."""
    session = state_of(request)
    hop = session["hops"].pop(query.get("state", ""), None)
    session.modified = True
    if hop is None or hop["role"] != role:
        raise FlowError("Unknown or replayed state: this response does not belong to a flow of ours")
    if hop["issuer"] and query.get("iss") != hop["issuer"]:
        raise FlowError(f"Mix-up defence: iss {query.get('iss')!r} is not {hop['issuer']!r} (RFC 9207)")
    if "error" in query:
        raise FlowError(f"{query['error']}: {query.get('error_description', '')}")
    data = {
        "grant_type": "authorization_code",
        "code": query.get("code", ""),
        "redirect_uri": hop["redirect_uri"],
        "code_verifier": hop["verifier"],
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(hop["token_endpoint"], hop["role"]),
    }
    response = http(request).post(hop["token_endpoint"], data=data)
    if response.status_code != 200:
        raise FlowError(f"Token request failed: {response.text[:300]}")
    token = response.json()
    if "id_token" in token:
        claims = jwt.decode(token["id_token"], options={"verify_signature": False})
        if claims.get("nonce") != hop["nonce"]:
            raise FlowError("id_token nonce does not match this hop")
    if hop.get("resources"):
        # One token for several servers: each server gets its own patient id.
        patients = {d["locations"][0]: d.get("patient") for d in token.get("authorization_details", [])}
        for base in hop["resources"]:
            remember(
                request,
                role_of(base),
                base,
                # A server with no patient of its own gets none (never another server's id).
                dict(token, patient=patients.get(base)),
                hop["token_endpoint"],
            )
    else:
        remember(request, hop["role"], hop["iss"], token, hop["token_endpoint"])
    return token


def remember(request, role, iss, token, token_endpoint):
    session = state_of(request)
    session["servers"][role] = {"iss": iss, "token": token, "token_endpoint": token_endpoint}
    session.modified = True


def backend_token(request, iss, scope="system/*.rs"):
    config = discover(request, iss)
    token = _token_request(
        request, config["token_endpoint"], {"grant_type": "client_credentials", "scope": scope}, role_of(iss)
    )
    remember(request, role_of(iss), iss, token, config["token_endpoint"])
    return token


def _token_request(request, token_endpoint, data, role):
    """A token request authenticated with the app's key (private_key_jwt) as its client at ``role``."""
    data = {
        **data,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(token_endpoint, role),
    }
    response = http(request).post(token_endpoint, data=data)
    if response.status_code != 200:
        raise FlowError(f"{data['grant_type']} refused: {response.text[:300]}")
    return response.json()


def read_fhir(request, role):
    """What the app shows of one server: the patient and their imaging studies."""
    server = state_of(request)["servers"].get(role)
    if not server:
        return None
    token = server["token"]
    headers = {"Authorization": f"Bearer {token['access_token']}", "Accept": "application/fhir+json"}
    base = server["iss"].rstrip("/")
    result = {"patient_id": token.get("patient"), "scope": token.get("scope")}
    client = http(request)
    if token.get("patient"):
        response = client.get(f"{base}/Patient/{token['patient']}", headers=headers)
        result["patient"] = (
            response.json() if response.status_code == 200 else {"status": response.status_code}
        )
        response = client.get(f"{base}/ImagingStudy", params={"patient": token["patient"]}, headers=headers)
    else:
        response = client.get(f"{base}/ImagingStudy", params={"_count": "5"}, headers=headers)
    if response.status_code == 200:
        result["studies"] = [e["resource"] for e in response.json().get("entry", [])]
    else:
        result["studies_error"] = response.status_code
    return result


def token_exchange(request, subject_token, subject_type, scope="patient/*.rs"):
    iss = FHIR_BASES["imaging"]()
    config = discover(request, iss)
    data = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": subject_token,
        "subject_token_type": subject_type,
        "scope": scope,
    }
    token = _token_request(request, config["token_endpoint"], data, "imaging")
    remember(request, "imaging", iss, token, config["token_endpoint"])
    return token
