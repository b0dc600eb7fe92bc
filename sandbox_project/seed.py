"""Demo users, clients and FHIR data of each sandbox deployment (idempotent)."""

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from oauth2_provider.models import get_application_model

from smart_auth.models import SmartUser
from smart_auth.registration import register_client

from .clients import DEMO_CLIENT_IDS, DEMO_SOFTWARE_ID, PUBLIC_CLIENT_IDS, PUBLIC_SOFTWARE_ID
from .keys import client_jwks


DEMO_APP_ID = DEMO_CLIENT_IDS["ehr"]
PUBLIC_APP_ID = PUBLIC_CLIENT_IDS["ehr"]
IMAGING_CLIENT_ID = "sandbox-imaging-server"
APP_SCOPES = (
    "launch launch/patient launch/encounter openid fhirUser profile offline_access online_access "
    "patient/*.cruds user/*.cruds launch-token fhircast"
)


def seed(role):
    if role == "app":
        return
    # One transaction: one commit (and one writer turn) instead of one per resource, so a slow
    # or busy disk delays the start by one flush, not five hundred; and a seed that fails leaves
    # the database as it was.
    with transaction.atomic():
        users = _users()
        _fhir_data(role, users)
        _clients(role)


def _users():
    User = get_user_model()
    made = {}
    for name, staff in (("clinician", False), ("patient", False), ("admin", True)):
        user = User.objects.filter(username=name).first()
        if user is None:
            user = User.objects.create_user(name, password=name, is_staff=staff, is_superuser=staff)
            if name == "clinician":
                user.first_name, user.last_name = "Casey", "Clinician"
                user.save()
        made[name] = user
    return made


def _fhir_data(role, users):
    if apps.is_installed("smart_fhir"):
        from smart_fhir import demo

        demo.load_demo_data(role)
        practitioner, patient = demo.DEMO_PRACTITIONER_ID, demo.demo_patient_id(role, 1)
    else:
        practitioner, patient = "demo-practitioner", "demo-patient-1"
    SmartUser.objects.update_or_create(
        user=users["clinician"], defaults={"fhir_user": f"Practitioner/{practitioner}"}
    )
    SmartUser.objects.update_or_create(user=users["patient"], defaults={"fhir_user": f"Patient/{patient}"})


def _register(metadata):
    """Register a demo client, or bring an existing one up to date with this code's metadata."""
    application = get_application_model().objects.filter(client_id=metadata["client_id"]).first()
    if application is None:
        register_client(metadata)
        return
    smart = application.smart
    smart.software_id = metadata.get("software_id", "")
    smart.allowed_scopes = metadata.get("scope", "")
    smart.jwks = metadata.get("jwks")
    smart.grant_types = metadata.get("grant_types", smart.grant_types)
    smart.save()
    application.redirect_uris = " ".join(metadata.get("redirect_uris", []))
    application.skip_authorization = bool(metadata.get("skip_authorization", False))
    application.save()


def _clients(role):
    app_url = settings.APP_URL
    _register(
        {
            "client_id": DEMO_CLIENT_IDS[role],
            "software_id": DEMO_SOFTWARE_ID,
            "client_name": "Sandbox demo app",
            "redirect_uris": [f"{app_url}/callback/{role}", f"{app_url}/callback"],
            "launch_uri": f"{app_url}/launch",
            "grant_types": [
                "authorization_code",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": client_jwks("app"),
            "scope": APP_SCOPES + " system/*.rs",
        }
    )
    _register(
        {
            "client_id": PUBLIC_CLIENT_IDS[role],
            "software_id": PUBLIC_SOFTWARE_ID,
            "client_name": "Sandbox public app",
            "redirect_uris": [f"{app_url}/public/callback", "http://127.0.0.1:9999/callback"],
            "launch_uri": f"{app_url}/public/launch",
            "token_endpoint_auth_method": "none",
            "scope": APP_SCOPES,
        }
    )
    if role == "ehr":
        # The imaging server is a backend client of the EHR: it introspects launch-tokens and
        # reads the patient's identifiers and imaging studies.
        _register(
            {
                "client_id": IMAGING_CLIENT_ID,
                "client_name": "Imaging server",
                "redirect_uris": [f"{settings.IMAGING_URL}/consent/ehr-callback"],
                "grant_types": ["client_credentials", "authorization_code"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": client_jwks("imaging"),
                "scope": (
                    "system/*.rs introspection openid fhirUser profile user/*.rs patient/*.rs "
                    "launch launch/patient"
                ),
                "skip_authorization": True,
            }
        )
