"""No secret in a repr, a log line, an audit record or an error page; the sandbox runs with
``DEBUG`` off unless asked (SANDBOX_DEBUG=1), and unexpected errors are logged, not shown."""

import logging
import os
import subprocess
import sys

import pytest
import requests
from django.test import override_settings

from sandbox_project.scripted import ROOT, Deployments
from smart_auth.federation import TrustedEHR
from smart_auth.models import AuditEvent
from tests.conftest import ClientKey, token_post
from tests.keys import TEST_SIGNING_KEY
from tests.security.auth_helpers import ASSERTION_TYPE


PEM_MARKER = "PRIVATE KEY"
TRUSTED_EHR = {
    "issuer": "http://127.0.0.1:9/o",  # nothing listens on port 9 (discard)
    "fhir_base": "http://127.0.0.1:9/fhir",
    "client_id": "imaging-at-ehr",
    "private_key": TEST_SIGNING_KEY,
    "kid": "k1",
    "timeout": 0.5,
}


def test_trusted_ehr_repr_hides_its_private_key():
    ehr = TrustedEHR(**TRUSTED_EHR)
    assert PEM_MARKER not in repr(ehr) and PEM_MARKER not in str(ehr)
    assert ehr.private_key == TEST_SIGNING_KEY  # still usable for signing


def test_introspection_credentials_repr_hides_the_key_and_secret():
    from smart_fhir.tokens import _configured_issuers

    issuers = [
        {
            "issuer": "https://ehr.example/o",
            "introspection_endpoint": "https://ehr.example/o/introspect/",
            "introspection_auth": {
                "type": "private_key_jwt",
                "client_id": "rs",
                "private_key": TEST_SIGNING_KEY,
            },
        },
        {
            "issuer": "https://other.example/o",
            "introspection_endpoint": "https://other.example/o/introspect/",
            "introspection_auth": {"type": "basic", "client_id": "rs", "client_secret": "s3cr3t-value"},
        },
    ]
    with override_settings(SMART_FHIR={"BASE_URL": "http://testserver/fhir", "TRUSTED_ISSUERS": issuers}):
        shown = repr(_configured_issuers())
    assert PEM_MARKER not in shown and "s3cr3t-value" not in shown


@pytest.mark.django_db
def test_federation_failure_leaves_no_key_in_audit_or_log(client, caplog):
    """A token exchange whose trusted EHR is unreachable: refused, audited, logged; no key."""
    key = ClientKey("RS384")
    from smart_auth.registration import register_client

    app, _ = register_client(
        {
            "client_name": "Exchanger",
            "grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks,
            "scope": "user/*.rs",
        }
    )
    caplog.set_level(logging.DEBUG)
    with override_settings(
        SMART_AUTH={"FHIR_BASE_URLS": ["http://testserver/fhir"], "TRUSTED_EHRS": [TRUSTED_EHR]}
    ):
        response = token_post(
            client,
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": "opaque-ehr-token",
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "scope": "user/*.rs",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": key.assertion(app.client_id),
            },
        )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    details = " ".join(AuditEvent.objects.values_list("detail", flat=True))
    assert details and PEM_MARKER not in details
    assert PEM_MARKER not in caplog.text and PEM_MARKER not in response.content.decode()


def _sandbox_settings(tmp_path, **env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "DJANGO_"))}
    environment.update(
        {"SANDBOX_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "sandbox_project.settings.ehr"}
    )
    environment.update(env)
    probe = (
        "import logging, django; django.setup(); from django.conf import settings; "
        "print(settings.DEBUG, bool(logging.getLogger('django.request').handlers))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=environment, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_sandbox_debug_is_off_unless_asked(tmp_path):
    debug, logged = _sandbox_settings(tmp_path)
    assert debug == "False" and logged == "True"  # 500 tracebacks go to the log
    assert _sandbox_settings(tmp_path, SANDBOX_DEBUG="1")[0] == "True"


@pytest.mark.live
def test_live_sandbox_shows_no_debug_page(tmp_path_factory):
    """Started as the README says (no SANDBOX_DEBUG): an error page reveals no URLconf or
    settings, and the static SMART style is still served."""
    deployments = Deployments(tmp_path_factory.mktemp("nodebug"), roles=("ehr",))
    deployments.env.pop("SANDBOX_DEBUG", None)
    deployments.start()
    try:
        base = deployments.urls["ehr"]
        missing = requests.get(f"{base}/no-such-page/", timeout=30)
        assert missing.status_code == 404
        assert "URLconf" not in missing.text and "DEBUG" not in missing.text
        style = requests.get(f"{base}/static/smart_auth/smart-style.json", timeout=30)
        assert style.status_code == 200 and "color_background" in style.text
    finally:
        deployments.stop()
