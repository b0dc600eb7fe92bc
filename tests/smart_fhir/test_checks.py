"""System checks smart_fhir.E0xx."""

from django.core.management import call_command

from smart_fhir.checks import check_settings


def _ids(settings, **config):
    settings.SMART_FHIR = config
    return {e.id for e in check_settings(None)}


def test_valid_settings_have_no_errors(settings):
    assert _ids(settings, BASE_URL="http://testserver/fhir") == set()
    call_command("check")


def test_each_check_id(settings):
    assert "smart_fhir.E001" in _ids(settings, BASE_URL="fhir")
    assert "smart_fhir.E002" in _ids(settings, TRUSTED_ISSUERS=[{"issuer": "nope"}])
    assert "smart_fhir.E003" in _ids(
        settings, TRUSTED_ISSUERS=[{"issuer": "https://a.example", "jwks_uri": "x"}]
    )
    assert "smart_fhir.E004" in _ids(settings, STORAGE_BACKEND="smart_fhir.nowhere.Backend")
    assert "smart_fhir.E004" in _ids(settings, RESOURCE_FILTERS=["smart_fhir.nowhere.hook"])
