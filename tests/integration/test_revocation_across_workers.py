"""A revocation made by one worker process is seen by the FHIR server in every worker process on
the very next request (RFC 7009 §2: the token is invalid from then on; the FHIR server caches a
token it has checked, per process, for ``INTROSPECTION_CACHE_SECONDS``).

Two-worker EHR as in production (``sandbox --workers 2``): every request opens a new connection,
so both workers serve and cache the token before it is revoked.
"""

import pytest
import requests

from tests.security.auth_helpers import backend_at_live_ehr


pytestmark = pytest.mark.live
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CALLS = 40


@pytest.fixture(scope="module")
def ehr(tmp_path_factory):
    deployments, client_id, key = backend_at_live_ehr(tmp_path_factory.mktemp("revoke"), "Revoking backend")
    yield deployments.urls["ehr"], client_id, key
    deployments.stop()


def _authenticated(base, client_id, key, **form):
    return {
        **form,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": key.assertion(client_id, aud=f"{base}/o/token/"),
    }


def _statuses(base, token):
    headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
    return {
        requests.get(f"{base}/fhir/Patient?_count=1", headers=headers, timeout=30).status_code
        for _ in range(CALLS)
    }


def test_a_revoked_token_is_refused_by_every_worker_at_once(ehr):
    base, client_id, key = ehr
    issued = requests.post(
        f"{base}/o/token/",
        data=_authenticated(base, client_id, key, grant_type="client_credentials", scope="system/*.rs"),
        timeout=30,
    )
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    assert _statuses(base, token) == {200}  # checked, and cached by the workers that served it
    revoked = requests.post(
        f"{base}/o/revoke_token/", data=_authenticated(base, client_id, key, token=token), timeout=30
    )
    assert revoked.status_code == 200, revoked.text
    assert _statuses(base, token) == {401}
