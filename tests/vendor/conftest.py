from tests.smart_fhir.conftest import ehr_data, fresh_token_cache  # noqa: F401
