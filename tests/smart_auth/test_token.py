"""The token endpoint: code exchange and the token response (checklist b.4, b.5, b.9 N2–N7, b.10)."""

import base64
import time
from datetime import timedelta

import jwt
import pytest
from django.utils import timezone
from jwcrypto.jwk import JWK
from oauth2_provider.models import AccessToken, Grant, RefreshToken

from smart_auth.launch import create_launch
from tests.conftest import Flow, token_post


pytestmark = pytest.mark.django_db
SCOPE = "launch/patient openid fhirUser patient/*.rs offline_access"


def public_key(client):
    return JWK(**client.get("/o/.well-known/jwks.json").json()["keys"][0]).export_to_pem()


def test_token_response_shape_and_headers(flow, users):
    """T1–T6, T11, T12: fields, types, verbatim scopes, no-store / no-cache."""
    response = flow.run(SCOPE, users["patient"])
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] and "no-cache" in response["Pragma"]
    body = response.json()
    assert body["token_type"].lower() == "bearer"
    assert isinstance(body["expires_in"], int)
    assert body["scope"].split() == SCOPE.split()
    assert isinstance(body["refresh_token"], str) and body["patient"] == "pat-1"


def test_access_token_is_a_verifiable_rfc9068_jwt(client, flow, users):
    """Signed JWT access token (RFC 9068 shape) verifiable with our JWKS; audience = the FHIR base."""
    body = flow.run(SCOPE, users["patient"]).json()
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt" and header["kid"]
    claims = jwt.decode(
        body["access_token"],
        public_key(client),
        algorithms=["RS256"],
        audience="http://testserver/fhir",
        issuer="http://testserver/o",
    )
    assert claims["client_id"] == flow.application.client_id
    assert claims["scope"] == body["scope"] and claims["patient"] == "pat-1"
    assert {"sub", "exp", "iat", "jti"} <= set(claims)


def test_id_token(client, flow, users):
    """O8–O13 and X8: RS256 with kid, iss = issuer, aud = client_id, fhirUser, nonce echoed."""
    body = flow.run(SCOPE, users["clinician"], patient="pat-1").json()
    header = jwt.get_unverified_header(body["id_token"])
    assert header["alg"] == "RS256" and header["kid"]
    claims = jwt.decode(
        body["id_token"],
        public_key(client),
        algorithms=["RS256"],
        audience=flow.application.client_id,
        issuer="http://testserver/o",
    )
    assert claims["fhirUser"] == "Practitioner/prac-1"
    assert claims["nonce"] == flow.nonce
    assert claims["sub"] and len(claims["sub"]) < 256


def test_no_refresh_token_without_offline_or_online_access(flow, users):
    """X7: a refresh token only with offline_access or online_access."""
    body = flow.run("launch/patient patient/*.rs", users["patient"]).json()
    assert "refresh_token" not in body
    assert not RefreshToken.objects.exists()


def test_no_id_token_without_openid(flow, users):
    assert "id_token" not in flow.run("launch/patient patient/*.rs", users["patient"]).json()


@pytest.mark.parametrize("verifier", [None, "", "wrong-verifier-" + "x" * 40, "challenge"])
def test_bad_pkce_verifier_is_refused(flow, users, verifier):
    """N2–N5: missing, empty, wrong verifier, or the challenge itself."""
    flow.client.force_login(users["patient"])
    code = flow.code_from(flow.approve(flow.authorize(SCOPE)))
    response = flow.exchange(code, code_verifier=flow.challenge if verifier == "challenge" else verifier)
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_grant", "invalid_request")
    assert not AccessToken.objects.exists()


def test_bad_code_is_exactly_400(flow):
    """N6."""
    response = flow.exchange("BAD_CODE")
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_bad_client_id_is_refused(flow, users):
    """N7."""
    flow.client.force_login(users["patient"])
    code = flow.code_from(flow.approve(flow.authorize(SCOPE)))
    response = flow.exchange(code, client_id="BAD_CLIENT_ID")
    assert response.status_code in (400, 401)
    assert not AccessToken.objects.exists()


def test_redirect_uri_must_match(flow, users):
    """X1."""
    flow.client.force_login(users["patient"])
    code = flow.code_from(flow.approve(flow.authorize(SCOPE)))
    response = flow.exchange(code, redirect_uri="https://app.example/other")
    assert response.status_code in (400, 401)


def test_replayed_code_fails_and_revokes_what_it_issued(flow, users):
    """X2 / RFC 6749 §4.1.2: a second exchange fails and revokes the tokens of the first."""
    flow.client.force_login(users["patient"])
    code = flow.code_from(flow.approve(flow.authorize(SCOPE)))
    first = flow.exchange(code).json()
    again = flow.exchange(code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()
    refresh = token_post(
        flow.client,
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": flow.application.client_id,
        },
    )
    assert refresh.status_code in (400, 401)


def test_a_code_redeemed_elsewhere_meanwhile_leaves_no_tokens(flow, users, monkeypatch):
    """RFC 6749 §4.1.2 (a code is used once) / §10.5: an exchange whose code another exchange
    redeems after this one validated it gets invalid_grant and leaves no token behind: the code
    is used up in the transaction that writes its tokens."""
    from smart_auth.oauth2.validators import SmartOAuth2Validator

    flow.client.force_login(users["patient"])
    code = flow.code_from(flow.approve(flow.authorize(SCOPE)))
    validate = SmartOAuth2Validator.validate_code

    def validate_then_redeemed_elsewhere(self, client_id, code, client, request, *args, **kwargs):
        valid = validate(self, client_id, code, client, request, *args, **kwargs)
        Grant.objects.filter(code=code).delete()  # the other exchange's redemption commits
        return valid

    monkeypatch.setattr(SmartOAuth2Validator, "validate_code", validate_then_redeemed_elsewhere)
    response = flow.exchange(code)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists() and not RefreshToken.objects.exists()


def test_code_expires_within_a_minute(flow, users):
    """X3: codes expire after AUTHORIZATION_CODE_EXPIRE_SECONDS (60)."""
    flow.client.force_login(users["patient"])
    code = flow.code_from(flow.approve(flow.authorize(SCOPE)))
    Grant.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert flow.exchange(code).status_code == 400


def test_token_endpoint_requires_form_body(flow):
    """X4."""
    response = flow.client.post(
        "/o/token/", {"grant_type": "authorization_code"}, content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_unsupported_grant_type(flow):
    """X5 / B1."""
    response = token_post(
        flow.client, {"grant_type": "not_a_grant_type", "client_id": flow.application.client_id}
    )
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def test_cors_on_token_endpoint(flow, users):
    """T13: public clients get Access-Control-Allow-Origin."""
    flow.client.force_login(users["patient"])
    code = flow.code_from(flow.approve(flow.authorize(SCOPE)))
    response = flow.client.post(
        "/o/token/",
        f"grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback"
        f"&code_verifier={flow.verifier}&client_id={flow.application.client_id}",
        content_type="application/x-www-form-urlencoded",
        HTTP_ORIGIN="https://app.example",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] in ("*", "https://app.example")


def test_symmetric_client_secret_basic_and_post(client, users, symmetric_client):
    flow = Flow(client, symmetric_client)
    assert flow.run(SCOPE, users["patient"], auth="basic").status_code == 200
    flow = Flow(client, symmetric_client)
    client.force_login(users["patient"])
    code = flow.code_from(flow.approve(flow.authorize(SCOPE)))
    response = flow.exchange(code, client_secret=symmetric_client.plain_secret)
    assert response.status_code == 200


def test_symmetric_client_without_or_with_wrong_secret_is_refused(client, users, symmetric_client):
    flow = Flow(client, symmetric_client)
    client.force_login(users["patient"])
    code = flow.code_from(flow.approve(flow.authorize(SCOPE)))
    assert flow.exchange(code).status_code == 401
    raw = f"{symmetric_client.client_id}:wrong".encode()
    response = flow.exchange(code, HTTP_AUTHORIZATION="Basic " + base64.b64encode(raw).decode())
    assert response.status_code == 401
    assert not AccessToken.objects.exists()


def test_client_secret_is_hashed_at_rest(symmetric_client):
    symmetric_client.refresh_from_db()
    assert symmetric_client.client_secret != symmetric_client.plain_secret
    # A generated (high-entropy) secret: one salted HMAC-SHA256 (see test_client_secret_hasher.py).
    assert symmetric_client.client_secret.startswith("smart_client_secret_sha256$")


def test_tokens_are_hashed_at_rest(flow, users):
    body = flow.run(SCOPE, users["patient"]).json()
    stored = AccessToken.objects.get()
    assert stored.token != body["access_token"]


def test_asymmetric_client_code_exchange(client, users, asymmetric_client):
    flow = Flow(client, asymmetric_client)
    assert flow.run(SCOPE, users["patient"], auth="jwt").status_code == 200


def test_asymmetric_client_cannot_fall_back_to_public_auth(client, users, asymmetric_client):
    flow = Flow(client, asymmetric_client)
    client.force_login(users["patient"])
    code = flow.code_from(flow.approve(flow.authorize(SCOPE)))
    assert flow.exchange(code).status_code == 401


def test_ehr_launch_token_has_banner_and_style(flow, users, public_client):
    """T17: need_patient_banner present and smart_style_url fetchable JSON."""
    launch = create_launch(
        public_client,
        user=users["clinician"],
        patient="pat-1",
        smart_style_url="http://testserver/static/smart_auth/smart-style.json",
    )
    body = flow.run("launch openid fhirUser patient/*.rs", users["clinician"], launch=launch.handle).json()
    assert "need_patient_banner" in body and body["smart_style_url"]


def test_expired_access_token_claims(flow, users):
    body = flow.run(SCOPE, users["patient"]).json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert claims["exp"] > time.time()
