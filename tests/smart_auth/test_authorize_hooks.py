"""The authorization flow's public extension points (docs/smart_auth.md, "Extending the
authorization flow"): a vendor adds its own step with hooks only, no private names."""

import pytest

from smart_auth.views import DecisionError, PendingAuthorization, SmartAuthorizationView


pytestmark = pytest.mark.django_db
SCOPE = "launch/patient openid fhirUser patient/*.rs"
DECISIONS = []


class AttestingView(SmartAuthorizationView):
    """A vendor step: the user must attest a purpose of use; the decision is recorded."""

    def resolve_user_and_patient(self, request, pending, application):
        super().resolve_user_and_patient(request, pending, application)
        pending.extra["purposes"] = ["treatment", "research"]

    def consent_context(self, request, pending, application):
        return {
            **super().consent_context(request, pending, application),
            "purposes": pending.extra["purposes"],
        }

    def read_decision(self, request, pending):
        purpose = request.POST.get("purpose")
        if purpose not in pending.extra["purposes"]:
            raise DecisionError("Choose a purpose of use that was offered.")
        pending.extra["purpose"] = purpose

    def record_decision(self, request, pending, granted):
        assert isinstance(pending, PendingAuthorization)
        DECISIONS.append((pending.client_id, pending.patient, pending.extra["purpose"], list(granted)))


@pytest.fixture
def attesting(settings):
    settings.SMART_AUTH = {**settings.SMART_AUTH, "AUTHORIZATION_VIEW_CLASS": f"{__name__}.AttestingView"}
    DECISIONS.clear()


def test_a_vendor_step_through_public_hooks(flow, users, attesting):
    flow.client.force_login(users["patient"])
    pending = flow.consent_form(flow.authorize(SCOPE))
    refused = flow.client.post(
        "/o/authorize/",
        {"pending": pending, "grant_scope": SCOPE.split(), "action": "approve", "purpose": "ads"},
    )
    assert refused.status_code == 400 and DECISIONS == []
    response = flow.client.post(
        "/o/authorize/",
        {"pending": pending, "grant_scope": SCOPE.split(), "action": "approve", "purpose": "treatment"},
    )
    token = flow.exchange(flow.code_from(response)).json()
    assert token["patient"] == "pat-1"
    assert DECISIONS == [(flow.application.client_id, "pat-1", "treatment", SCOPE.split())]


def test_a_patient_user_cannot_be_launched_for_another_patient(flow, users, public_client):
    """SMART 2.2: a patient user acts for themself, whatever a launch names: access_denied."""
    from urllib.parse import parse_qs, urlsplit

    from smart_auth.launch import create_launch

    launch = create_launch(public_client, user=users["patient"], patient="pat-2")
    flow.client.force_login(users["patient"])
    response = flow.authorize("launch patient/*.rs", launch=launch.handle)
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["access_denied"]
