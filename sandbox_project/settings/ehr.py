"""The EHR deployment: smart_auth, smart_fhir and fhircast_hub."""

from smart_auth.presets import oauth2_provider_settings

from .base import *  # noqa: F403
from .base import EHR_URL, IMAGING_URL, role_settings, secret_key


ROLE = "ehr"
BASE_URL = EHR_URL
_role = role_settings(ROLE)
DATABASES = _role["DATABASES"]
SECRET_KEY = secret_key(_role["ROLE_DIR"])
SESSION_COOKIE_NAME = "ehr_sessionid"
CSRF_COOKIE_NAME = "ehr_csrftoken"
ROOT_URLCONF = "sandbox_project.urls"

OAUTH2_PROVIDER = oauth2_provider_settings(_role["SIGNING_KEY"], issuer=f"{BASE_URL}/o")
SMART_AUTH = {
    # The EHR's authorization server governs its own FHIR API and, for the shared-token
    # mechanism (auth-multi-aud-token), the imaging server's, which trusts its tokens.
    "FHIR_BASE_URLS": [f"{BASE_URL}/fhir", f"{IMAGING_URL}/fhir"],
    "SMART_STYLE_URL": f"{BASE_URL}/static/smart_auth/smart-style.json",
    "EXTRA_CAPABILITIES": ["launch-token", "auth-multi-aud-token"],
    "ASSOCIATED_ENDPOINTS": [
        {
            "url": f"{IMAGING_URL}/fhir",
            "capabilities": [
                "auth-multi-aud-token",
                "launch-token",
                "token-exchange-openid",
                "token-exchange-accesstoken",
                "smart-imaging-access-dual-launch",
            ],
        }
    ],
}
IMAGING_FHIR_BASE = f"{IMAGING_URL}/fhir"

# --- smart_fhir ---
INSTALLED_APPS += ["smart_fhir"]  # noqa: F405
SMART_FHIR = {
    "BASE_URL": f"{BASE_URL}/fhir",
    "RESOURCE_TYPES": [
        "Patient",
        "Encounter",
        "Observation",
        "DiagnosticReport",
        "ImagingStudy",
        "Practitioner",
    ],
}
SMART_FHIR["USER_ACCESS_POLICY"] = "smart_fhir.policies.practitioners_see_all"  # an explicit opt-in
SMART_AUTH["PATIENT_DIRECTORY"] = "smart_fhir.directory.StoragePatientDirectory"
# --- end smart_fhir ---

# --- fhircast_hub ---------------------------------------------------------------------------
INSTALLED_APPS += ["channels", "fhircast_hub"]  # noqa: F405
ASGI_APPLICATION = "sandbox_project.asgi.application"
CHANNEL_LAYERS = channel_layers()  # noqa: F405
FHIRCAST_HUB = {"HUB_URL": f"{BASE_URL}/hub", "CORS_ALLOWED_ORIGINS": [APP_URL]}  # noqa: F405
SMART_AUTH["TOKEN_RESPONSE_CONTRIBUTORS"] = ["fhircast_hub.smart.token_response"]
# --- end fhircast_hub -----------------------------------------------------------------------
