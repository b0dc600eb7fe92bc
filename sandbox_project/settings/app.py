"""The demo app: a confidential server-side SMART client (no authorization server of its own)."""

from .base import *  # noqa: F403
from .base import APP_URL, EHR_URL, IMAGING_URL, role_settings, secret_key


ROLE = "app"
BASE_URL = APP_URL
_role = role_settings(ROLE)
DATABASES = _role["DATABASES"]
SECRET_KEY = secret_key(_role["ROLE_DIR"])
SESSION_COOKIE_NAME = "app_sessionid"
CSRF_COOKIE_NAME = "app_csrftoken"
ROOT_URLCONF = "sandbox_project.app_urls"
INSTALLED_APPS = [a for a in INSTALLED_APPS if a not in ("oauth2_provider", "smart_auth", "rest_framework")]  # noqa: F405
TEMPLATES[0]["DIRS"] += [  # noqa: F405
    BASE_DIR / "smart_auth" / "templates",  # noqa: F405  (the shared base layout)
]
EHR_FHIR_BASE = f"{EHR_URL}/fhir"
IMAGING_FHIR_BASE = f"{IMAGING_URL}/fhir"
