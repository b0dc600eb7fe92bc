"""Trusted-issuer key handling: JWKS fetched by URL, cached, refetched on key rotation."""

import json

import pytest
import requests

from tests.conftest import ClientKey

from .conftest import PAT1, FakeIssuer


pytestmark = pytest.mark.django_db

JWKS_URI = "https://as.example/o/.well-known/jwks.json"


class FakeJWKSEndpoint:
    """Stands in for the issuer's JWKS URL (requests.Session.get of the validator's JWKSCache)."""

    def __init__(self, jwks):
        self.jwks = jwks
        self.calls = 0
        self.down = False

    def get(self, url, timeout=None, headers=None):
        assert url == JWKS_URI
        self.calls += 1
        if self.down:
            raise requests.ConnectionError("connection refused")
        response = requests.Response()
        response.status_code = 200
        response.headers["Cache-Control"] = "max-age=3600"
        response._content = json.dumps(self.jwks).encode()
        return response


@pytest.fixture
def remote(settings, monkeypatch):
    issuer = FakeIssuer()
    settings.SMART_FHIR = {
        **settings.SMART_FHIR,
        "TRUSTED_ISSUERS": [{"issuer": issuer.issuer, "jwks_uri": JWKS_URI}],
        "INTROSPECTION_CACHE_SECONDS": 0,  # check every request, to exercise the JWKS cache
    }
    from smart_fhir.tokens import get_validator

    endpoint = FakeJWKSEndpoint(issuer.key.jwks)
    monkeypatch.setattr(get_validator().jwks.session, "get", endpoint.get)
    monkeypatch.setattr("smart_auth.jwks._MIN_REFETCH_INTERVAL", 0.0)
    return issuer, endpoint


def test_jwks_is_cached_and_refetched_when_the_issuer_rotates_keys(api, ehr_data, remote):
    """SMART 2.2 / RFC 7517: keys come from the issuer's JWKS, cached; an unknown kid triggers a refetch."""
    issuer, endpoint = remote
    for _ in range(3):
        assert api.get(f"Patient/{PAT1}", token=issuer.token("user/*.rs")).status_code == 200
    assert endpoint.calls == 1
    from smart_fhir.tokens import get_validator

    # Unknown kids refetch at most every few seconds (a flood of made-up kids must not hammer
    # the issuer); this test rotates at once, so it lifts that interval.
    get_validator().jwks.min_refetch_interval = 0
    new_key = ClientKey("RS256")
    endpoint.jwks = {"keys": [issuer.key.jwk, new_key.jwk]}  # rotation: the new key is published
    assert api.get(f"Patient/{PAT1}", token=issuer.token("user/*.rs", key=new_key)).status_code == 200
    assert endpoint.calls == 2
    endpoint.jwks = {"keys": [new_key.jwk]}  # the old key is retired
    unknown = ClientKey("RS256")
    assert api.get(f"Patient/{PAT1}", token=issuer.token("user/*.rs", key=unknown)).status_code == 401


def test_unreachable_jwks_is_503(api, ehr_data, remote):
    """A signature we cannot check is neither accepted nor blamed on the client: 503."""
    issuer, endpoint = remote
    endpoint.down = True
    response = api.get(f"Patient/{PAT1}", token=issuer.token("user/*.rs"))
    assert response.status_code == 503
    assert response.json()["resourceType"] == "OperationOutcome"
