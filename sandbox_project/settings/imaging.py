"""The imaging deployment: smart_auth, smart_fhir and imaging_consent."""

from smart_auth.presets import oauth2_provider_settings

from ..keys import client_key_pem, client_kid
from .base import *  # noqa: F403
from .base import EHR_URL, IMAGING_URL, role_settings, secret_key


ROLE = "imaging"
BASE_URL = IMAGING_URL
_role = role_settings(ROLE)
DATABASES = _role["DATABASES"]
SECRET_KEY = secret_key(_role["ROLE_DIR"])
SESSION_COOKIE_NAME = "imaging_sessionid"
CSRF_COOKIE_NAME = "imaging_csrftoken"
ROOT_URLCONF = "sandbox_project.urls"

OAUTH2_PROVIDER = oauth2_provider_settings(_role["SIGNING_KEY"], issuer=f"{BASE_URL}/o")
SMART_AUTH = {
    "FHIR_BASE_URLS": [f"{BASE_URL}/fhir"],
    "EXTRA_CAPABILITIES": [
        "auth-multi-aud-token",
        "token-exchange-openid",
        "token-exchange-accesstoken",
        "smart-imaging-access-dual-launch",
    ],
    # The dual launch (login_hint = the EHR's id_token) and the consent screen of studies.
    "AUTHORIZATION_VIEW_CLASS": "imaging_consent.views.ImagingAuthorizationView",
    # The EHR whose launch-tokens, id_tokens and access tokens this server accepts; we are its
    # backend client "sandbox-imaging-server" (private_key_jwt).
    "TRUSTED_EHRS": [
        {
            "issuer": f"{EHR_URL}/o",
            "fhir_base": f"{EHR_URL}/fhir",
            "client_id": "sandbox-imaging-server",
            "private_key": client_key_pem("imaging"),
            "kid": client_kid("imaging"),
            "patient_identifier_systems": ["http://hospital.example/mrn"],
        }
    ],
}
EHR_FHIR_BASE = f"{EHR_URL}/fhir"

# --- smart_fhir ---
INSTALLED_APPS += ["smart_fhir"]  # noqa: F405
SMART_FHIR = {
    "BASE_URL": f"{BASE_URL}/fhir",
    "RESOURCE_TYPES": ["Patient", "ImagingStudy", "Endpoint"],
    # Our own smart_auth is trusted implicitly; the EHR's issuer for the shared-token approach.
    "TRUSTED_ISSUERS": [
        {
            "issuer": f"{EHR_URL}/o",
            "jwks_uri": f"{EHR_URL}/o/.well-known/jwks.json",
            "introspection_endpoint": f"{EHR_URL}/o/introspect/",
            # Revocation is learnt from the EHR's introspection (cached briefly), as the
            # imaging server's backend client there.
            "introspect": "always",
            "introspection_auth": {
                "type": "private_key_jwt",
                "client_id": "sandbox-imaging-server",
                "private_key": client_key_pem("imaging"),
                "kid": client_kid("imaging"),
            },
        }
    ],
}
SMART_FHIR["USER_ACCESS_POLICY"] = "smart_fhir.policies.practitioners_see_all"  # an explicit opt-in
SMART_AUTH["PATIENT_DIRECTORY"] = "smart_fhir.directory.StoragePatientDirectory"
# --- end smart_fhir ---

# --- imaging_consent ---
INSTALLED_APPS += ["imaging_consent"]  # noqa: F405
SMART_FHIR["RESOURCE_FILTERS"] = ["imaging_consent.filters.only_consented_studies"]  # noqa: F405
# --- end imaging_consent ---
