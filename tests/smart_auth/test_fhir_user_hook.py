"""SMART_AUTH["FHIR_USER"] decides fhirUser everywhere (issue 14): the id_token, the token
response's context and the standalone launch of a patient user."""

import jwt
import pytest
from django.conf import settings as django_settings


pytestmark = pytest.mark.django_db


def hook(user):
    return {"clinician": "Practitioner/from-hook", "other": "Patient/hooked-patient"}.get(user.get_username())


@pytest.fixture
def hooked(settings):
    settings.SMART_AUTH = {
        **django_settings.SMART_AUTH,
        "FHIR_USER": "tests.smart_auth.test_fhir_user_hook.hook",
    }


def test_id_token_carries_the_hooks_fhir_user(hooked, flow, users):
    body = flow.run("openid fhirUser", users["clinician"]).json()
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert claims["fhirUser"] == "Practitioner/from-hook"


def test_a_patient_by_the_hook_launches_for_themself(hooked, flow, users):
    """``other`` has no SmartUser row: only the hook makes them a Patient."""
    body = flow.run("openid fhirUser launch/patient patient/*.rs", users["other"]).json()
    assert body["patient"] == "hooked-patient"
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert claims["fhirUser"] == "Patient/hooked-patient"
