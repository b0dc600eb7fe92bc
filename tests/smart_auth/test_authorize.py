"""The authorization endpoint (SMART 2.2 "Obtain authorization code"; checklist b.2, b.3, b.9)."""

from urllib.parse import parse_qs, urlsplit

import pytest
from oauth2_provider.models import Grant

from smart_auth.launch import create_launch
from smart_auth.models import AuditEvent, LaunchContext
from tests.conftest import FHIR, REDIRECT


pytestmark = pytest.mark.django_db
SCOPE = "launch/patient openid fhirUser patient/*.rs"


def error_of(response):
    assert response.status_code == 302, response.content[:300]
    assert response["Location"].startswith(REDIRECT)
    return parse_qs(urlsplit(response["Location"]).query)


def test_standalone_launch_with_patient_picker(flow, users):
    """SMART 2.2 standalone launch: launch/patient shows a picker; the choice is the token's patient."""
    flow.client.force_login(users["clinician"])
    response = flow.authorize(SCOPE)
    assert b"Choose the patient" in response.content
    assert response.content.count(b'type="radio" name="patient"') == 2
    token = flow.exchange(flow.code_from(flow.approve(response, patient="pat-2"))).json()
    assert token["patient"] == "pat-2"


def test_picker_refuses_a_patient_outside_the_choices(flow, users):
    flow.client.force_login(users["clinician"])
    pending = flow.consent_form(flow.authorize(SCOPE))
    response = flow.client.post("/o/authorize/", {"pending": pending, "patient": "pat-999"})
    assert response.status_code == 400
    assert not Grant.objects.exists()


def test_patient_user_gets_own_patient_without_picker(flow, users):
    flow.client.force_login(users["patient"])
    response = flow.authorize(SCOPE)
    assert b"Choose the patient" not in response.content
    token = flow.exchange(flow.code_from(flow.approve(response))).json()
    assert token["patient"] == "pat-1"
    assert token["need_patient_banner"] is True


def test_authorize_post_is_accepted(flow, users):
    """A4: the same request as a form POST (authorize-post)."""
    flow.client.force_login(users["patient"])
    response = flow.authorize(SCOPE, method="post")
    code = flow.code_from(flow.approve(response))
    assert flow.exchange(code).status_code == 200


def test_authorize_post_survives_login(flow, users):
    response = flow.authorize(SCOPE, method="post")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    next_url = parse_qs(urlsplit(response["Location"]).query)["next"][0]
    assert "code_challenge" not in next_url  # the POSTed parameters stay server-side
    flow.client.force_login(users["patient"])
    code = flow.code_from(flow.approve(flow.client.get(next_url)))
    assert flow.exchange(code).status_code == 200


@pytest.mark.parametrize(
    "aud", ["https://inferno.healthit.gov/invalid_aud", "http://testserver/fhir/other", None]
)
def test_wrong_or_missing_aud_never_yields_a_code(flow, users, aud):
    """N1 / SMART 2.2: aud must be a FHIR base this server governs, else no code."""
    flow.client.force_login(users["patient"])
    query = error_of(flow.authorize(SCOPE, aud=aud))
    assert "code" not in query
    assert query["error"] == (["invalid_request"] if aud is None else ["invalid_target"])
    assert query["state"] == [flow.state]
    assert query["iss"] == ["http://testserver/o"]
    assert not Grant.objects.exists()


def test_aud_with_trailing_slash_is_tolerated(flow, users):
    flow.client.force_login(users["patient"])
    code = flow.code_from(flow.approve(flow.authorize(SCOPE, aud=FHIR + "/")))
    assert flow.exchange(code).json()["access_token"]


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "patient/Observation.xx"}, "invalid_scope"),
    ],
)
def test_bad_requests_redirect_with_standard_errors(flow, users, extra, error):
    """PKCE S256 required, plain refused (SMART 2.2 / RFC 7636); code flow only; scope grammar."""
    flow.client.force_login(users["patient"])
    scope = extra.pop("scope", SCOPE)
    query = error_of(flow.authorize(scope, **extra))
    assert query["error"] == [error]
    assert query["state"] == [flow.state]
    assert not Grant.objects.exists()
    assert AuditEvent.objects.filter(outcome="refused", action="authorize").exists()


def test_unregistered_redirect_uri_gets_an_error_page(flow, users):
    """A5 / RFC 6749 §4.1.2.1: never redirect to an unregistered URI."""
    flow.client.force_login(users["patient"])
    response = flow.authorize(SCOPE, redirect_uri="https://evil.example/callback")
    assert response.status_code == 400
    assert b"evil.example" not in response.content or b"Location" not in response.content
    response = flow.authorize(SCOPE, redirect_uri=REDIRECT + "/extra")
    assert response.status_code == 400


def test_unknown_client_gets_an_error_page(flow, users):
    flow.client.force_login(users["patient"])
    assert flow.authorize(SCOPE, client_id="nope").status_code in (400, 401)


def test_deny_redirects_access_denied(flow, users):
    flow.client.force_login(users["patient"])
    pending = flow.consent_form(flow.authorize(SCOPE))
    response = flow.client.post("/o/authorize/", {"pending": pending, "action": "deny"})
    assert error_of(response)["error"] == ["access_denied"]


def test_user_can_untick_scopes_and_choose_categories(flow, users):
    """N9/N10: limited access and granular category selection on the consent screen."""
    flow.client.force_login(users["patient"])
    response = flow.authorize("launch/patient patient/Observation.rs patient/Patient.rs")
    lab = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
    assert lab.encode() in response.content.replace(b"&amp;", b"&")
    response = flow.approve(response, scopes=["launch/patient", "patient/Patient.rs", lab])
    token = flow.exchange(flow.code_from(response)).json()
    assert token["scope"].split() == ["launch/patient", "patient/Patient.rs", lab]


def test_consent_cannot_widen_the_request(flow, users):
    flow.client.force_login(users["patient"])
    pending = flow.consent_form(flow.authorize("launch/patient patient/Observation.rs"))
    response = flow.client.post(
        "/o/authorize/", {"pending": pending, "action": "approve", "grant_scope": ["patient/*.cruds"]}
    )
    assert response.status_code == 400
    assert not Grant.objects.exists()


def test_scopes_beyond_registration_are_not_granted(client, users, symmetric_client):
    from tests.conftest import Flow

    flow = Flow(client, symmetric_client)
    flow.client.force_login(users["patient"])
    response = flow.authorize("launch/patient patient/*.rs system/*.rs user/*.cruds")
    assert b"system/*.rs" not in response.content
    token = flow.exchange(flow.code_from(flow.approve(response)), auth="basic").json()
    assert "system/*.rs" not in token["scope"]


def test_ehr_launch_is_single_use_and_bound_to_client(flow, users, public_client, symmetric_client):
    """SMART 2.2 EHR launch: launch handles are single-use and bound to the client."""
    from tests.conftest import Flow

    launch = create_launch(public_client, user=users["clinician"], patient="pat-1")
    token = flow.run("launch openid fhirUser patient/*.rs", users["clinician"], launch=launch.handle).json()
    assert token["patient"] == "pat-1"
    again = Flow(flow.client, public_client)
    assert error_of(again.authorize("launch patient/*.rs", launch=launch.handle))["error"] == [
        "invalid_request"
    ]
    other_launch = create_launch(public_client, user=users["clinician"], patient="pat-1")
    foreign = Flow(flow.client, symmetric_client)
    assert error_of(foreign.authorize("launch patient/*.rs", launch=other_launch.handle))["error"] == [
        "invalid_request"
    ]


def test_ehr_launch_for_another_user_is_refused(flow, users, public_client):
    launch = create_launch(public_client, user=users["clinician"], patient="pat-1")
    flow.client.force_login(users["other"])
    assert error_of(flow.authorize("launch patient/*.rs", launch=launch.handle))["error"] == ["access_denied"]
    assert LaunchContext.objects.get(pk=launch.pk).used is None


def test_ehr_launch_context_reaches_the_token(flow, users, public_client):
    """T14, T17: patient, encounter, need_patient_banner, smart_style_url, fhirContext, intent, tenant."""
    launch = create_launch(
        public_client,
        user=users["clinician"],
        patient="pat-1",
        encounter="enc-9",
        fhir_context=[{"reference": "ImagingStudy/st-1"}],
        intent="reconcile-medications",
        need_patient_banner=False,
        smart_style_url="http://testserver/static/smart_auth/smart-style.json",
        tenant="t1",
    )
    token = flow.run("launch openid fhirUser patient/*.rs", users["clinician"], launch=launch.handle).json()
    assert token["patient"] == "pat-1" and token["encounter"] == "enc-9"
    assert token["fhirContext"] == [{"reference": "ImagingStudy/st-1"}]
    assert token["need_patient_banner"] is False
    assert token["intent"] == "reconcile-medications" and token["tenant"] == "t1"
    assert flow.client.get("/static/smart_auth/smart-style.json").status_code in (200, 404)


def test_consent_page_cannot_be_framed(flow, users):
    flow.client.force_login(users["patient"])
    assert flow.authorize(SCOPE)["X-Frame-Options"] == "DENY"


def test_prompt_none_without_session_is_login_required(flow):
    assert error_of(flow.authorize(SCOPE, prompt="none"))["error"] == ["login_required"]


def test_prompt_none_needing_consent_is_consent_required(flow, users):
    flow.client.force_login(users["patient"])
    assert error_of(flow.authorize(SCOPE, prompt="none"))["error"] == ["consent_required"]


def test_prompt_none_for_pre_authorized_client_issues_silently(flow, users, public_client):
    public_client.skip_authorization = True
    public_client.save()
    flow.client.force_login(users["patient"])
    code = flow.code_from(flow.authorize(SCOPE, prompt="none"))
    assert flow.exchange(code).status_code == 200


def test_prompt_none_with_hint_of_another_user_is_login_required(flow, users, public_client):
    public_client.skip_authorization = True
    public_client.save()
    id_token = flow.run("openid fhirUser launch/patient", users["patient"]).json()["id_token"]
    flow.client.force_login(users["clinician"])
    query = error_of(flow.authorize("openid fhirUser", prompt="none", id_token_hint=id_token))
    assert query["error"] == ["login_required"]
