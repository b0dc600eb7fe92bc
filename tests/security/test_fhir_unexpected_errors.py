"""An unexpected failure below the FHIR API (here a vendor storage backend whose database is
gone) answers a 500 OperationOutcome that reveals nothing; the traceback goes to the log
(FHIR R4 §3.1.0.4; issue 13: the lean read path then failed again on `accepted_renderer`)."""

import logging

import pytest

from smart_fhir.storage.orm import OrmStorage
from tests.smart_fhir.conftest import FHIR_JSON, PAT1, Api, ehr_data, fresh_token_cache, issue  # noqa: F401


SECRET = "postgres://fhir:s3cret-password@db.internal/fhir"


class UnreachableDatabase(OrmStorage):
    """A vendor backend whose database went away: every lookup fails with its DSN in the text."""

    def read_entry(self, resource_type, resource_id):
        raise ConnectionError(f"could not connect to {SECRET}")

    def run_search(self, query, grants=None):
        raise ConnectionError(f"could not connect to {SECRET}")


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", [f"Patient/{PAT1}", f"Observation?patient={PAT1}"])
@pytest.mark.parametrize("accept", ["application/fhir+json", "application/json"])  # lean path, DRF path
def test_an_unexpected_failure_is_a_500_operation_outcome_without_internals(
    client, issue, ehr_data, settings, caplog, debug, path, accept  # noqa: F811
):
    token = issue("openid fhirUser user/*.rs")
    settings.DEBUG = debug
    settings.SMART_FHIR = {**settings.SMART_FHIR, "STORAGE_BACKEND": f"{__name__}.UnreachableDatabase"}
    with caplog.at_level(logging.ERROR, logger="smart_fhir"):
        response = Api(client, token).get(path, HTTP_ACCEPT=accept)
    assert response.status_code == 500
    assert response["Content-Type"].startswith(accept)
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == "exception"
    assert b"s3cret" not in response.content and b"ConnectionError" not in response.content
    assert any(r.exc_info and "s3cret" in str(r.exc_info[1]) for r in caplog.records)  # logged
