"""System checks a vendor meets (issue 14): one clear error per bad setting, each with its id."""

import pytest
from django.conf import settings as django_settings

from fhircast_hub.checks import check_settings as hub_checks
from imaging_consent.checks import check_setup as consent_checks
from smart_auth.checks import check_settings as auth_checks
from smart_fhir.checks import check_settings as fhir_checks


def errors(check):
    return [(p.id, p.msg) for p in check(None)]


def ids(check):
    return {p.id for p in check(None)}


@pytest.fixture
def smart_auth_settings(settings):
    def set_(**changes):
        settings.SMART_AUTH = {**django_settings.SMART_AUTH, **changes}

    return set_


def test_the_test_settings_are_clean():
    assert errors(auth_checks) == [] and errors(fhir_checks) == [] and errors(hub_checks) == []


def test_a_string_where_a_list_is_wanted_is_one_error(smart_auth_settings):
    smart_auth_settings(FHIR_BASE_URLS="https://ehr.example/fhir")
    found = [e for e in errors(auth_checks) if e[0].startswith("smart_auth.")]
    assert found == [
        (
            "smart_auth.E007",
            "SMART_AUTH['FHIR_BASE_URLS'] must be a list of strings, not str 'https://ehr.example/fhir'.",
        )
    ]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"LAUNCH_EXPIRE_SECONDS": "300"}, "smart_auth.E007"),
        ({"TRUSTED_EHRS": {"issuer": "x"}}, "smart_auth.E007"),
        ({"FHIR_USER": "myproject.nowhere.fhir_user"}, "smart_auth.E008"),
        ({"PATIENT_CHOICES": "smart_auth.conf.DEFAULTS"}, "smart_auth.E008"),  # not callable
        ({"TOKEN_RESPONSE_CONTRIBUTORS": ["fhircast_hub.smart.nope"]}, "smart_auth.E008"),
        ({"AUTHORIZATION_VIEW_CLASS": "smart_auth.views.Nope"}, "smart_auth.E008"),
        ({"PATIENT_DIRECTORY": "smart_fhir.directory.Nope"}, "smart_auth.E008"),
        ({"FHIR_BASE_URL": ["https://typo.example/fhir"]}, "smart_auth.E006"),
    ],
)
def test_smart_auth_setting_checks(smart_auth_settings, changes, expected):
    smart_auth_settings(**changes)
    assert expected in ids(auth_checks)


def test_smart_auth_not_a_dict(settings):
    settings.SMART_AUTH = ["FHIR_BASE_URLS"]
    assert "smart_auth.E005" in ids(auth_checks)


def test_issuer_must_match_where_the_oauth_urls_are_mounted(settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": "http://testserver/auth"}
    assert "smart_auth.E010" in ids(auth_checks)
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": "testserver/o"}
    assert "smart_auth.E010" in ids(auth_checks)


def test_oauth_urls_not_mounted(settings):
    settings.ROOT_URLCONF = "tests.vendor.urls_without_oauth"
    assert "smart_auth.E009" in ids(auth_checks)


def test_missing_signing_key_says_how_to_make_one(settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_RSA_PRIVATE_KEY": ""}
    (problem,) = [p for p in auth_checks(None) if p.id == "smart_auth.E002"]
    assert "smart_signing_key" in problem.hint


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"RESOURCE_TYPES": "Patient"}, "smart_fhir.E010"),
        ({"READ_ONLY": "no"}, "smart_fhir.E010"),
        ({"MAX_PAGE_SIZE": 0}, "smart_fhir.E010"),
        ({"BASE_URLS": ["http://testserver/fhir"]}, "smart_fhir.E009"),
        ({"USER_ACCESS_POLICY": "smart_fhir.policies.nope"}, "smart_fhir.E004"),
        ({"RESOURCE_TYPES": ["Patient", "MedicationRequest"]}, "smart_fhir.E011"),
        ({"BASE_URL": "http://elsewhere.example/fhir"}, "smart_fhir.E012"),
    ],
)
def test_smart_fhir_setting_checks(settings, config, expected):
    settings.SMART_FHIR = {"BASE_URL": "http://testserver/fhir", **config}
    assert expected in ids(fhir_checks)


def test_base_url_from_any_host_is_a_warning(settings):
    """RFC 9068 §4: the audience a resource server accepts must not be the client's choice."""
    settings.ALLOWED_HOSTS = ["*"]
    settings.SMART_FHIR = {}
    assert "smart_fhir.W001" in ids(fhir_checks)
    settings.ALLOWED_HOSTS = ["ehr.example.org"]
    assert "smart_fhir.W001" not in ids(fhir_checks)
    settings.ALLOWED_HOSTS = ["*"]
    settings.SMART_FHIR = {"BASE_URL": "http://testserver/fhir"}
    assert "smart_fhir.W001" not in ids(fhir_checks)


def test_smart_fhir_string_resource_types_is_one_error(settings):
    settings.SMART_FHIR = {"BASE_URL": "http://testserver/fhir", "RESOURCE_TYPES": "Patient"}
    assert [i for i, _ in errors(fhir_checks)] == ["smart_fhir.E010"]


def test_smart_fhir_not_a_dict(settings):
    settings.SMART_FHIR = "http://testserver/fhir"
    assert "smart_fhir.E008" in ids(fhir_checks)


def test_a_vendor_storage_declares_its_types(settings):
    settings.SMART_FHIR = {
        "BASE_URL": "http://testserver/fhir",
        "STORAGE_BACKEND": "tests.vendor.storage.PatientsOnly",
        "RESOURCE_TYPES": ["Patient"],
    }
    assert ids(fhir_checks) == set()
    settings.SMART_FHIR = {**settings.SMART_FHIR, "RESOURCE_TYPES": ["Patient", "Observation"]}
    assert ids(fhir_checks) == {"smart_fhir.E011"}


def test_channel_layer_backend_must_import(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis_missing.core.RedisChannelLayer"}}
    assert "fhircast_hub.E007" in ids(hub_checks)


def test_missing_channels_redis_names_the_extra(settings, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "channels_redis", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "channels_redis.core", raising=False)
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:6379/4", "socket_timeout": 30}]},
        }
    }
    (problem,) = [p for p in hub_checks(None) if p.id == "fhircast_hub.E007"]
    assert "[redis]" in problem.hint


def test_topic_access_policy_must_import(settings):
    settings.FHIRCAST_HUB = {"TOPIC_ACCESS_POLICY": "fhircast_hub.policy.nope"}
    assert "fhircast_hub.E009" in ids(hub_checks)


def test_asgi_application_must_import(settings):
    settings.ASGI_APPLICATION = "myproject.asgi.application"
    assert "fhircast_hub.E008" in ids(hub_checks)


def test_readme_style_redis_layer_gives_no_warning(settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:6379/4", "socket_timeout": 30}]},
        }
    }
    assert ids(hub_checks) == set()


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("nope", "imaging_consent.E004"),
        ({"EHR_SCOPES": "openid"}, "imaging_consent.E005"),
        ({"REMEMBER_CONSENT": "yes"}, "imaging_consent.E006"),
    ],
)
def test_imaging_consent_setting_checks(settings, config, expected):
    settings.INSTALLED_APPS = [*django_settings.INSTALLED_APPS, "imaging_consent"]
    settings.IMAGING_CONSENT = config
    assert expected in ids(consent_checks)


def test_imaging_consent_checks_are_silent_without_the_app(settings):
    settings.IMAGING_CONSENT = "nope"
    assert ids(consent_checks) == set()
