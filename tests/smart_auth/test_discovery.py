"""Discovery documents (SMART 2.2 "Conformance"; checklist b.1, b.5 O2–O7)."""

import pytest
from jwcrypto.jwk import JWK


pytestmark = pytest.mark.django_db


def test_smart_configuration_is_json_whatever_accept(client):
    """D1–D9, D12: JSON regardless of Accept; required fields; S256 only; absolute URLs."""
    response = client.get(
        "/fhir/.well-known/smart-configuration", HTTP_ACCEPT="text/html", HTTP_ORIGIN="https://x.example"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Access-Control-Allow-Origin"] == "*"
    doc = response.json()
    for key in (
        "token_endpoint",
        "grant_types_supported",
        "capabilities",
        "code_challenge_methods_supported",
        "authorization_endpoint",
        "issuer",
        "jwks_uri",
        "introspection_endpoint",
        "revocation_endpoint",
        "scopes_supported",
        "response_types_supported",
        "management_endpoint",
    ):
        assert doc[key], key
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert "authorization_code" in doc["grant_types_supported"]
    for key, value in doc.items():
        if key.endswith("_endpoint") or key == "jwks_uri":
            assert value.startswith("http://testserver/"), (key, value)
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
    assert {"RS384", "ES384"} <= set(doc["token_endpoint_auth_signing_alg_values_supported"])


def test_capabilities_cover_onc_g10_sets(client):
    """D14, D15: the capability sets ONC g10 requires for standalone and EHR launch."""
    caps = set(client.get("/fhir/.well-known/smart-configuration").json()["capabilities"])
    assert {
        "launch-standalone",
        "client-public",
        "client-confidential-symmetric",
        "client-confidential-asymmetric",
        "sso-openid-connect",
        "context-standalone-patient",
        "permission-offline",
        "permission-patient",
        "authorize-post",
        "permission-v2",
        "permission-v1",
        "launch-ehr",
        "context-banner",
        "context-style",
        "context-ehr-patient",
        "context-ehr-encounter",
        "permission-user",
    } <= caps
    assert "context-passthrough-banner" not in caps


def test_openid_configuration_and_jwks(client):
    """O2–O7: OIDC discovery at {iss}/.well-known/openid-configuration; RSA keys that import."""
    doc = client.get("/o/.well-known/openid-configuration").json()
    assert doc["issuer"] == "http://testserver/o"
    assert "RS256" in doc["id_token_signing_alg_values_supported"]
    jwks = client.get("/o/.well-known/jwks.json").json()
    assert jwks["keys"] and all(JWK(**k).key_type == "RSA" for k in jwks["keys"])


def test_rfc8414_metadata(client):
    doc = client.get("/.well-known/oauth-authorization-server/o").json()
    assert doc["issuer"] == "http://testserver/o"
    assert doc["token_endpoint"] == "http://testserver/o/token/"


def test_rfc8414_metadata_is_true_of_the_server(client):
    """RFC 9207 §3 and RFC 8414: iss support advertised, S256 only, no device grant."""
    doc = client.get("/.well-known/oauth-authorization-server/o").json()
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert "urn:ietf:params:oauth:grant-type:device_code" not in doc["grant_types_supported"]
