"""Shared steps of the authorization-server attack tests (tests/security/test_auth_*.py)."""

import base64

from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from sandbox_project.scripted import Deployments
from smart_auth.models import AuditEvent, LaunchContext, LaunchToken
from tests.conftest import FORM, ClientKey, token_post


ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def basic(client_id, secret=""):
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def backend_token(client, backend_client, scope="introspection", **extra):
    response = token_post(
        client,
        {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": backend_client.key.assertion(backend_client.client_id),
            **extra,
        },
    )
    return response


def introspect(client, token, body="", **headers):
    return client.post("/o/introspect/", f"token={token}{body}", content_type=FORM, **headers)


def state():
    """Counts of every row an attack could create, use up or remove."""
    return {
        "access": get_access_token_model().objects.count(),
        "refresh": get_refresh_token_model().objects.count(),
        "live_refresh": get_refresh_token_model().objects.filter(revoked__isnull=True).count(),
        "grants": get_grant_model().objects.count(),
        "launch_tokens_used": LaunchToken.objects.filter(consumed__isnull=False).count(),
        "launches_used": LaunchContext.objects.filter(used__isnull=False).count(),
        "issued_on_record": AuditEvent.objects.filter(outcome="issued").count(),
    }


def backend_at_live_ehr(data_dir, client_name, extra_env=None, workers=2):
    """A live EHR deployment (``workers`` processes) with a backend-services client registered
    (RS384 key, ``system/*.rs``): returns (deployments, client_id, key). The caller stops it."""
    deployments = Deployments(data_dir, roles=("ehr",), extra_env=extra_env or {}, workers=workers).start()
    key = ClientKey("RS384")
    client = deployments.register(
        "ehr",
        {
            "client_name": client_name,
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks,
            "scope": "system/*.rs",
        },
    )
    return deployments, client["client_id"], key
