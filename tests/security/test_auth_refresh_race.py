"""Two refreshes with one refresh token at the same moment, against a live EHR process
(RFC 9700 §4.14.2: a refresh token used twice is a replay; the family is revoked).

Never a 5xx; exactly one request wins; the other is ``invalid_grant`` and the replay revokes the
whole family, so the winner's new refresh token and access token stop working too. Run on the
sandbox's SQLite and, when ``DATABASE_URL`` names a PostgreSQL server, on PostgreSQL.
"""

import base64
import hashlib
import json
import os
import secrets
import threading
import uuid
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest
import requests

from sandbox_project.scripted import Browser, Deployments


pytestmark = pytest.mark.live
REDIRECT = "https://race.example/callback"
SCOPE = "launch/patient openid fhirUser patient/*.rs offline_access"
ROUNDS = 4  # families raced; each round sends two refreshes released together


def _postgres_url():
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return None
    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "smart") + "_race" + uuid.uuid4().hex[:6]
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ehr(request, tmp_path_factory):
    extra = {}
    if request.param == "postgresql":
        url = _postgres_url()
        if url is None:
            pytest.skip("DATABASE_URL names no PostgreSQL server")
        extra["DATABASE_URL"] = url
    deployments = Deployments(tmp_path_factory.mktemp("race"), roles=("ehr",), extra_env=extra).start()
    client = deployments.register(
        "ehr",
        {
            "client_name": "Race app",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "scope": SCOPE,
        },
    )
    yield deployments.urls["ehr"], client["client_id"]
    deployments.stop()
    if extra:
        _drop_database(extra["DATABASE_URL"] + "_ehr")


def _drop_database(url):
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def _tokens(base, client_id):
    """A fresh family: the code flow as the demo patient, then the code exchange."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": SCOPE,
            "state": "s",
            "aud": f"{base}/fhir",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    answer = Browser("patient").visit(f"{base}/o/authorize/?{query}", stop_at=REDIRECT)
    response = requests.post(
        f"{base}/o/token/",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": client_id,
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _race(base, data, contenders=2):
    """``contenders`` identical token requests released at once; their (status, body) pairs."""
    barrier = threading.Barrier(contenders)
    results = []

    def post():
        session = requests.Session()
        barrier.wait()
        response = session.post(f"{base}/o/token/", data=data, timeout=60)
        results.append((response.status_code, response.text))

    threads = [threading.Thread(target=post) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_simultaneous_refreshes_one_wins_and_the_replay_revokes_the_family(ehr):
    base, client_id = ehr
    for _ in range(ROUNDS):
        family = _tokens(base, client_id)
        results = _race(base, {"grant_type": "refresh_token", "refresh_token": family["refresh_token"]})
        statuses = sorted(status for status, _ in results)
        assert all(status < 500 for status in statuses), results
        assert statuses == [200, 400], results
        winner = next(json.loads(body) for status, body in results if status == 200)
        loser = next(json.loads(body) for status, body in results if status == 400)
        assert loser["error"] == "invalid_grant"
        # The replay revoked the family: the winner's new tokens are dead as well.
        again = requests.post(
            f"{base}/o/token/",
            data={"grant_type": "refresh_token", "refresh_token": winner["refresh_token"]},
            timeout=30,
        )
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        userinfo = requests.get(
            f"{base}/o/userinfo/", headers={"Authorization": f"Bearer {winner['access_token']}"}, timeout=30
        )
        assert userinfo.status_code == 401


def _code(base, client_id):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": SCOPE,
            "state": "s",
            "aud": f"{base}/fhir",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    answer = Browser("patient").visit(f"{base}/o/authorize/?{query}", stop_at=REDIRECT)
    return answer["code"], verifier


def test_simultaneous_code_redemptions_one_wins(ehr):
    """RFC 6749 §4.1.2 / §10.5: an authorization code is redeemed once; a concurrent second
    redemption is invalid_grant, never a 5xx."""
    base, client_id = ehr
    for _ in range(ROUNDS):
        code, verifier = _code(base, client_id)
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": client_id,
        }
        results = _race(base, data)
        statuses = sorted(status for status, _ in results)
        assert all(status < 500 for status in statuses), results
        assert statuses == [200, 400], results
        assert "invalid_grant" in next(body for status, body in results if status == 400)
