"""Introspection and revocation (SMART 2.2 "Token Introspection", RFC 7662, RFC 7009; b.7, N8)."""

import base64

import jwt
import pytest

from smart_auth.launch import create_launch
from smart_auth.models import AuditEvent
from tests.conftest import FORM, Flow, token_post


pytestmark = pytest.mark.django_db
SCOPE = "launch/patient openid fhirUser patient/*.rs offline_access"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def backend_token(client, backend_client, scope="introspection"):
    body = token_post(
        client,
        {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": backend_client.key.assertion(backend_client.client_id),
        },
    ).json()
    return body["access_token"]


def introspect(client, token, **headers):
    return client.post(
        "/o/introspect/", f"token={token}", content_type=FORM, HTTP_ACCEPT="application/json", **headers
    )


def test_active_token_has_smart_fields(client, users, public_client, backend_client):
    """I1, I3–I9: active, client_id, scope, exp, launch context, iss/sub of the id_token, fhirUser."""
    launch = create_launch(public_client, user=users["clinician"], patient="pat-1", encounter="enc-1")
    issued = (
        Flow(client, public_client)
        .run("launch openid fhirUser patient/*.rs", users["clinician"], launch=launch.handle)
        .json()
    )
    caller = backend_token(client, backend_client)
    response = introspect(client, issued["access_token"], HTTP_AUTHORIZATION=f"Bearer {caller}")
    assert response.status_code == 200
    data = response.json()
    assert data["active"] is True
    assert data["client_id"] == public_client.client_id
    assert set(data["scope"].split()) == set(issued["scope"].split())
    assert data["patient"] == "pat-1" and data["encounter"] == "enc-1"
    id_claims = jwt.decode(issued["id_token"], options={"verify_signature": False})
    assert data["iss"] == id_claims["iss"] and data["sub"] == id_claims["sub"]
    assert data["fhirUser"] == "Practitioner/prac-1"
    assert data["aud"] == "http://testserver/fhir"


def test_invalid_token_answers_only_active_false(client, backend_client):
    """I2, I10, I11."""
    caller = backend_token(client, backend_client)
    response = introspect(client, "invalid_token_value", HTTP_AUTHORIZATION=f"Bearer {caller}")
    assert response.status_code == 200 and response.json() == {"active": False}


def test_introspection_requires_caller_authentication(client, flow, users):
    """I12: unauthenticated callers, and tokens without the introspection scope, are refused."""
    issued = flow.run(SCOPE, users["patient"]).json()
    assert introspect(client, issued["access_token"]).status_code in (401, 403)
    response = introspect(
        client, issued["access_token"], HTTP_AUTHORIZATION=f"Bearer {issued['access_token']}"
    )
    assert response.status_code in (401, 403)


def test_introspection_by_client_credentials(client, users, symmetric_client, flow):
    """A confidential client that is no designated resource server sees its own tokens only."""
    own = Flow(client, symmetric_client).run(SCOPE, users["patient"], auth="basic").json()
    others = flow.run(SCOPE, users["patient"]).json()
    raw = f"{symmetric_client.client_id}:{symmetric_client.plain_secret}".encode()
    basic = "Basic " + base64.b64encode(raw).decode()
    response = introspect(client, own["access_token"], HTTP_AUTHORIZATION=basic)
    assert response.status_code == 200 and response.json()["active"] is True
    assert introspect(client, others["access_token"], HTTP_AUTHORIZATION=basic).json() == {"active": False}


def test_introspection_by_private_key_jwt(client, users, backend_client, flow):
    issued = flow.run(SCOPE, users["patient"]).json()
    assertion = backend_client.key.assertion(backend_client.client_id)
    response = client.post(
        "/o/introspect/",
        f"token={issued['access_token']}&client_assertion_type={ASSERTION_TYPE}&client_assertion={assertion}",
        content_type=FORM,
    )
    assert response.status_code == 200 and response.json()["active"] is True


def test_revocation_ends_access_and_refresh(client, users, backend_client, flow):
    """N8 / RFC 7009: after revocation introspection says inactive and refresh fails."""
    issued = flow.run(SCOPE, users["patient"]).json()
    response = client.post(
        "/o/revoke_token/",
        f"token={issued['refresh_token']}&client_id={flow.application.client_id}",
        content_type=FORM,
    )
    assert response.status_code == 200
    caller = backend_token(client, backend_client)
    assert introspect(client, issued["access_token"], HTTP_AUTHORIZATION=f"Bearer {caller}").json() == {
        "active": False
    }
    refresh = token_post(client, {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    assert refresh.status_code in (400, 401)
    assert AuditEvent.objects.filter(outcome="revoked").exists()


def test_another_client_cannot_revoke_my_token(client, users, symmetric_client, flow, backend_client):
    issued = flow.run(SCOPE, users["patient"]).json()
    raw = f"{symmetric_client.client_id}:{symmetric_client.plain_secret}".encode()
    client.post(
        "/o/revoke_token/",
        f"token={issued['access_token']}",
        content_type=FORM,
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(raw).decode(),
    )
    caller = backend_token(client, backend_client)
    assert (
        introspect(client, issued["access_token"], HTTP_AUTHORIZATION=f"Bearer {caller}").json()["active"]
        is True
    )


def test_audit_records_issuance_with_patient(flow, users):
    flow.run(SCOPE, users["patient"])
    event = AuditEvent.objects.filter(outcome="issued", action="authorization_code").get()
    assert event.patient == "pat-1" and event.client_id == flow.application.client_id


def test_introspection_assertion_may_name_the_introspection_endpoint(client, users, backend_client, flow):
    """RFC 7523 §3: the assertion's aud identifies the server; the endpoint called is accepted."""
    issued = flow.run(SCOPE, users["patient"]).json()
    for aud, status in (("http://testserver/o/introspect/", 200), ("http://testserver/o/elsewhere/", 401)):
        assertion = backend_client.key.assertion(backend_client.client_id, aud=aud)
        response = client.post(
            "/o/introspect/",
            f"token={issued['access_token']}&client_assertion_type={ASSERTION_TYPE}&client_assertion={assertion}",
            content_type=FORM,
        )
        assert response.status_code == status


def test_the_narrow_liveness_check_agrees_with_introspection(client, users, public_client, backend_client):
    """smart_fhir re-checks a cached token with ``is_active`` on every request: it must answer what
    introspection answers, case by case (live, expired, revoked, unknown, disabled client, none)."""
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model

    from smart_auth.introspection import checksum, is_active
    from smart_auth.introspection import introspect as introspect_in_process

    AccessToken = get_access_token_model()

    def token(application, expires_in=3600):
        value = f"liveness-{AccessToken.objects.count()}"
        AccessToken.objects.create(
            token=value,
            application=application,
            scope="x",
            expires=timezone.now() + timedelta(seconds=expires_in),
        )
        return value

    issued = Flow(client, public_client).run(SCOPE, users["patient"]).json()
    revoked = token(backend_client)
    AccessToken.objects.filter(token_checksum=checksum(revoked)).delete()
    disabled = token(public_client)
    public_client.smart.enabled = False
    public_client.smart.save()
    cases = {
        "live": token(backend_client),
        "no client": token(None),
        "expired": token(backend_client, expires_in=-1),
        "revoked": revoked,
        "unknown": "not-a-token",
        "disabled client": disabled,
        "disabled client's issued token": issued["access_token"],
        "launch-token": "lt_whatever",
        "empty": "",
    }
    answers = {name: is_active(value) for name, value in cases.items()}
    assert answers == {name: introspect_in_process(value)["active"] for name, value in cases.items()}
    assert answers["live"] and answers["no client"]
    assert not any(answers[name] for name in ("expired", "revoked", "unknown", "disabled client", "empty"))
