"""Signing-key rotation and the admin's audit trail."""

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWKSet

from smart_auth.presets import oauth2_provider_settings


pytestmark = pytest.mark.django_db
SCOPE = "launch/patient openid fhirUser patient/*.rs offline_access"


def new_pem():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_rotation_keeps_tokens_in_flight_verifiable(client, flow, users, settings):
    """A rotated-out key stays in the JWKS, so tokens signed before the rotation still verify;
    new tokens carry the new kid (DESIGN §4: keys rotate without breaking tokens in flight)."""
    before = flow.run(SCOPE, users["patient"]).json()["access_token"]
    old_pem = settings.OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEY"]
    settings.OAUTH2_PROVIDER = oauth2_provider_settings(
        new_pem(), issuer="http://testserver/o", inactive_keys=[old_pem], ALWAYS_RELOAD_OAUTHLIB_CORE=True
    )
    jwks = PyJWKSet.from_dict(client.get("/o/.well-known/jwks.json").json())
    assert len(jwks.keys) == 2
    old_kid = jwt.get_unverified_header(before)["kid"]
    key = next(k for k in jwks.keys if k.key_id == old_kid)
    assert (
        jwt.decode(before, key.key, algorithms=["RS256"], audience="http://testserver/fhir")["patient"]
        == "pat-1"
    )
    from tests.conftest import Flow

    after = Flow(client, flow.application).run(SCOPE, users["patient"]).json()["access_token"]
    assert jwt.get_unverified_header(after)["kid"] != old_kid


def test_audit_events_are_readable_in_the_admin(admin_client, flow, users):
    flow.run(SCOPE, users["patient"])
    flow.exchange("BAD_CODE")
    page = admin_client.get("/admin/smart_auth/auditevent/")
    assert page.status_code == 200
    assert b"issued" in page.content and b"refused" in page.content
    assert admin_client.get("/admin/smart_auth/auditevent/add/").status_code == 403
