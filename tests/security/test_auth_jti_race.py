"""One client assertion sent many times at the same moment to a two-worker EHR: exactly one
token (RFC 7523 §3 item 7 and SMART App Launch 2.2 "Client Authentication: Asymmetric": the
server refuses a ``jti`` it has seen; the refusal holds across worker processes because the
database's unique constraint decides). Never a 5xx; the others are ``invalid_client``. Run on
the sandbox's SQLite and, when ``DATABASE_URL`` names a PostgreSQL server, on PostgreSQL.
"""

import threading

import pytest
import requests

from tests.security.auth_helpers import backend_at_live_ehr
from tests.security.test_auth_refresh_race import _drop_database, _postgres_url


pytestmark = pytest.mark.live
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SENDERS = 12


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ehr(request, tmp_path_factory):
    extra = {}
    if request.param == "postgresql":
        url = _postgres_url()
        if url is None:
            pytest.skip("DATABASE_URL names no PostgreSQL server")
        extra["DATABASE_URL"] = url
    deployments, client_id, key = backend_at_live_ehr(
        tmp_path_factory.mktemp("jti"), "Replayed backend", extra
    )
    yield deployments.urls["ehr"], client_id, key
    deployments.stop()
    if extra:
        _drop_database(extra["DATABASE_URL"] + "_ehr")


def _send_together(url, form, count):
    barrier = threading.Barrier(count)
    answers = [None] * count

    def send(i):
        barrier.wait()
        response = requests.post(url, data=form, timeout=30)
        answers[i] = (response.status_code, response.json().get("error"))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def test_one_assertion_sent_at_once_by_many_yields_one_token(ehr):
    base, client_id, key = ehr
    token_url = f"{base}/o/token/"
    for _round in range(3):
        form = {
            "grant_type": "client_credentials",
            "scope": "system/*.rs",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": key.assertion(client_id, aud=token_url),
        }
        answers = _send_together(token_url, form, SENDERS)
        assert None not in answers
        assert all(status < 500 for status, _error in answers), answers
        assert [status for status, _error in answers].count(200) == 1, answers
        assert all(error == "invalid_client" for status, error in answers if status != 200), answers
