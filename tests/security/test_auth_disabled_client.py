"""A client switched off in the admin loses the tokens it holds, not only new ones.

Rule (fail closed): once ``SmartClient.enabled`` is off, every local check of its tokens says no:
introspection answers ``{"active": false}`` (RFC 7662 §2.2: the authorization server decides what
"active" means), its access token is refused as a bearer token (RFC 6750 §3.1 ``invalid_token``)
at the introspection and userinfo endpoints and at the FHIR server (which had cached a positive
check), the FHIRcast hub refuses it, and its launch-tokens are inactive without being used up.
New tokens were already refused (``_load_application``); a refresh needs the client too.
"""

import pytest

from smart_auth.introspection import introspect as introspect_in_process
from smart_auth.models import LaunchToken
from tests.conftest import Flow
from tests.security.auth_helpers import backend_token, introspect


pytestmark = pytest.mark.django_db
SCOPE = "launch/patient openid fhirUser patient/*.rs launch-token"


def _disable(application):
    application.smart.enabled = False
    application.smart.save()  # as the admin saves it


def _bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def issued(client, users, public_client):
    body = Flow(client, public_client).run(SCOPE, users["patient"]).json()
    client.logout()
    return body


def test_introspection_says_inactive_once_the_client_is_disabled(
    client, backend_client, public_client, issued
):
    resource_server = backend_token(client, backend_client).json()["access_token"]
    before = introspect(client, issued["access_token"], **_bearer(resource_server)).json()
    assert before["active"] is True and before["client_id"] == public_client.client_id
    _disable(public_client)
    after = introspect(client, issued["access_token"], **_bearer(resource_server))
    assert after.status_code == 200
    assert after.json() == {"active": False}
    assert introspect_in_process(issued["access_token"]) == {"active": False}


def test_a_disabled_clients_token_is_no_longer_a_bearer_token(client, backend_client, issued):
    """The resource server's own token stops working the moment its client is disabled: on the
    introspection endpoint's fast path and on DOT's path (a query string sends it there)."""
    resource_server = backend_token(client, backend_client).json()["access_token"]
    assert introspect(client, issued["access_token"], **_bearer(resource_server)).status_code == 200
    _disable(backend_client)
    for path in ("/o/introspect/", "/o/introspect/?x=1"):
        response = client.post(
            path,
            f"token={issued['access_token']}",
            "application/x-www-form-urlencoded",
            **_bearer(resource_server),
        )
        assert response.status_code == 401, (path, response.content)
        assert "invalid_token" in response["WWW-Authenticate"]
        assert "active" not in response.json()


def test_fhir_server_and_userinfo_refuse_a_disabled_clients_token(client, public_client, issued):
    headers = _bearer(issued["access_token"])
    patient = f"/fhir/Patient/{issued['patient']}"
    assert client.get(patient, **headers).status_code != 401  # checked and cached
    assert client.get("/o/userinfo/", **headers).status_code == 200
    _disable(public_client)
    response = client.get(patient, **headers)
    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"
    response = client.get("/o/userinfo/", **headers)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_hub_refuses_a_disabled_clients_token(rf, public_client, issued):
    from fhircast_hub.auth import HubHttpError, authenticate

    request = rf.get("/fhircast/hub", HTTP_AUTHORIZATION=f"Bearer {issued['access_token']}")
    _disable(public_client)
    with pytest.raises(HubHttpError) as refused:
        authenticate(request)
    assert refused.value.status == 401


def test_a_disabled_apps_launch_token_is_inactive_and_not_used_up(
    client, backend_client, public_client, issued
):
    resource_server = backend_token(client, backend_client).json()["access_token"]
    _disable(public_client)
    response = introspect(client, issued["launch_token"], **_bearer(resource_server))
    assert response.json() == {"active": False}
    assert not LaunchToken.objects.filter(consumed__isnull=False).exists()


def test_re_enabling_gives_unexpired_tokens_back(client, backend_client, public_client, issued):
    """Disabling is a switch, not a revocation: what it does must be undoable by the admin."""
    resource_server = backend_token(client, backend_client).json()["access_token"]
    _disable(public_client)
    public_client.smart.enabled = True
    public_client.smart.save()
    assert introspect(client, issued["access_token"], **_bearer(resource_server)).json()["active"] is True
