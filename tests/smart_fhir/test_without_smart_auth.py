"""smart_fhir works without smart_auth installed (a remote authorization server), in a subprocess."""

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ClientKey

from .conftest import FakeIssuer


SCRIPT = """
import json, sys
import django
from django.conf import settings
from django.test.utils import override_settings
django.setup()
from django.apps import apps
from django.core.management import call_command
from django.test import Client
assert not apps.is_installed("smart_auth")
call_command("migrate", verbosity=0)
call_command("check")
from smart_fhir.demo import load_demo_data
load_demo_data("imaging", patients=1)
jwks, good, other = json.loads(sys.argv[1])
config = dict(settings.SMART_FHIR, TRUSTED_ISSUERS=[{"issuer": "https://as.example/o", "jwks": jwks}])
with override_settings(SMART_FHIR=config):
    client = Client()
    out = {
        "discovery": client.get("/fhir/.well-known/smart-configuration").json(),
        "metadata": client.get("/fhir/metadata").json()["rest"][0]["security"],
        "read": client.get("/fhir/Patient/im-pat-1", HTTP_AUTHORIZATION="Bearer " + good).status_code,
        "other_aud": client.get("/fhir/Patient/im-pat-1", HTTP_AUTHORIZATION="Bearer " + other).status_code,
    }
print(json.dumps(out))
"""


def test_remote_only_deployment_serves_discovery_and_checks_tokens():
    """SMART 2.2 Conformance: {base}/.well-known/smart-configuration is served at the FHIR base."""
    issuer = FakeIssuer()
    issuer.key = ClientKey("RS256")
    good = issuer.token("patient/*.rs", aud="http://imaging.test/fhir", patient="im-pat-1", sub="u")
    other = issuer.token("patient/*.rs", aud="http://testserver/fhir", patient="im-pat-1", sub="u")
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps([issuer.key.jwks, good, other])],
        capture_output=True,
        text=True,
        cwd=root,
        env={"DJANGO_SETTINGS_MODULE": "tests.smart_fhir.settings_no_auth", "PYTHONPATH": str(root)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["discovery"]["token_endpoint"] == "https://as.example/o/token"
    uris = {e["url"]: e["valueUri"] for e in out["metadata"]["extension"][0]["extension"]}
    assert uris["introspect"] == "https://as.example/o/introspect"
    assert out["read"] == 200
    assert out["other_aud"] == 401
