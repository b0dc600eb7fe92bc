"""The introspection endpoint's fast bearer check (smart_auth.bearer) against DOT's own.

``accepts()`` re-applies ``OAuth2Validator.validate_bearer_token`` on the values of one SELECT.
These tests pin it to DOT: on every case of the table it must answer what DOT's ``verify_request``
answers (so a DOT upgrade that changes the rule fails here, not silently), the endpoint must give
the same answer on either path, and ``token_rows()`` must read what the ORM reads.
"""

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone
from oauth2_provider.models import AbstractApplication, get_access_token_model, get_application_model
from oauth2_provider.oauth2_validators import validate_resource_as_url_prefix
from oauth2_provider.settings import oauth2_settings

from smart_auth import bearer as bearer_rule
from smart_auth.introspection import ROW_FIELDS, checksum, token_rows
from smart_auth.views.introspect import SmartIntrospectTokenView
from tests.conftest import FORM, Flow
from tests.security.auth_helpers import backend_token, introspect


pytestmark = pytest.mark.django_db
AccessToken = get_access_token_model()
SCOPES = SmartIntrospectTokenView.required_scopes
USER_SCOPE = "launch/patient openid fhirUser patient/*.rs"


def _request(authorization, path="/o/introspect/"):
    return RequestFactory().post(path, "token=anything", content_type=FORM, HTTP_AUTHORIZATION=authorization)


def _dot_accepts(request):
    core = SmartIntrospectTokenView.get_oauthlib_core()
    return core.verify_request(request, scopes=SCOPES)[0]


def _fast_accepts(request):
    core = SmartIntrospectTokenView.get_oauthlib_core()
    value = bearer_rule.bearer_token(request)
    if value is None:
        return False
    return bearer_rule.accepts(token_rows(value).get(checksum(value)), SCOPES, request, core)


def _token(application, scope="introspection", expires_in=3600, resource=None, value=None):
    value = value or f"tok-{AccessToken.objects.count()}-{timezone.now().timestamp()}"
    AccessToken.objects.create(
        token=value,
        application=application,
        scope=scope,
        expires=timezone.now() + timedelta(seconds=expires_in),
        resource=resource or [],
    )
    return value


@pytest.fixture
def cases(client, users, backend_client, public_client, symmetric_client):
    """(name, Authorization header, what DOT answers today): both outcomes, every rule."""
    valid = backend_token(client, backend_client).json()["access_token"]
    assert AccessToken.objects.get(token_checksum=checksum(valid)).resource  # audience-restricted
    issued = Flow(client, public_client).run(USER_SCOPE, users["patient"]).json()
    client.logout()
    revoked = _token(backend_client)
    AccessToken.objects.filter(token_checksum=checksum(revoked)).delete()
    disabled = _token(symmetric_client)
    symmetric_client.smart.enabled = False
    symmetric_client.smart.save()
    return [
        ("valid backend token", f"Bearer {valid}", True),
        ("lower-case scheme, extra spaces", f"bearer   {valid}", True),
        ("no application", f"Bearer {_token(None)}", True),
        ("public client's token with the scope", f"Bearer {_token(public_client)}", True),
        ("unrestricted audience", f"Bearer {_token(backend_client, resource=[])}", True),
        (
            "this server's own audience",
            f"Bearer {_token(backend_client, resource=['http://testserver/o'])}",
            True,
        ),
        (
            "other audience",
            f"Bearer {_token(backend_client, resource=['https://elsewhere.example/fhir'])}",
            None,
        ),
        # SmartOAuth2Validator.validate_bearer_token: a disabled client's tokens stop with it.
        ("disabled client", f"Bearer {disabled}", False),
        ("expired", f"Bearer {_token(backend_client, expires_in=-1)}", False),
        ("expires now", f"Bearer {_token(backend_client, expires_in=0)}", False),
        ("revoked (deleted)", f"Bearer {revoked}", False),
        ("without the scope", f"Bearer {issued['access_token']}", False),
        ("scope only as a prefix", f"Bearer {_token(backend_client, scope='introspectionx')}", False),
        ("several scopes", f"Bearer {_token(backend_client, scope='system/*.rs introspection')}", True),
        ("id_token as bearer", f"Bearer {issued['id_token']}", False),
        ("launch-token as bearer", f"Bearer {issued.get('launch_token', 'lt_x')}", False),
        ("garbage", "Bearer not-a-token", False),
        ("empty", "Bearer ", False),
        ("three parts", f"Bearer {valid} extra", False),
        # oauthlib splits on any whitespace; the endpoint reads "Bearer" + space as its scheme
        # (caller()), so this one is refused there on both paths (see the endpoint test).
        ("tab after the scheme", f"Bearer\t{valid}", True),
        ("Basic scheme", "Basic Zm9vOmJhcg==", False),
    ]


def test_fast_check_agrees_with_dot_on_every_case(cases):
    for name, authorization, expected in cases:
        dot = _dot_accepts(_request(authorization))
        if expected is not None:
            assert dot is expected, f"DOT's own rule changed for {name!r}: now {dot}"
        assert _fast_accepts(_request(authorization)) is dot, name


def test_other_audience_agrees_under_dots_stock_validator(client, backend_client, monkeypatch):
    """With DOT's stock prefix validator (no exception for this server's own endpoints) a token
    for another resource server is refused at introspection: by DOT and by the fast check."""
    monkeypatch.setattr(
        oauth2_settings, "RESOURCE_SERVER_TOKEN_RESOURCE_VALIDATOR", validate_resource_as_url_prefix
    )
    elsewhere = _token(backend_client, resource=["https://elsewhere.example/fhir"])
    here = _token(backend_client, resource=["http://testserver/o/"])
    for value, expected in ((elsewhere, False), (here, True)):
        request = _request(f"Bearer {value}")
        assert _dot_accepts(request) is expected
        assert _fast_accepts(_request(f"Bearer {value}")) is expected


def test_an_application_model_that_may_refuse_leaves_the_decision_to_dot(backend_client, monkeypatch):
    value = _token(backend_client)
    assert _fast_accepts(_request(f"Bearer {value}")) is True
    model = get_application_model()
    assert model.is_usable is AbstractApplication.is_usable
    monkeypatch.setattr(model, "is_usable", lambda self, request: False)
    assert _dot_accepts(_request(f"Bearer {value}")) is False
    assert _fast_accepts(_request(f"Bearer {value}")) is False


def test_a_replaced_validator_leaves_the_decision_to_dot(backend_client, monkeypatch):
    value = _token(backend_client)
    core = SmartIntrospectTokenView.get_oauthlib_core()
    validator = type(core.server.request_validator)
    monkeypatch.setattr(validator, "validate_bearer_token", lambda self, token, scopes, request: False)
    bearer_rule._plain.clear()
    try:
        assert _dot_accepts(_request(f"Bearer {value}")) is False
        assert _fast_accepts(_request(f"Bearer {value}")) is False
    finally:
        bearer_rule._plain.clear()


def test_query_string_takes_dots_path(client, backend_client):
    """DOT refuses an access_token in the query (RFC 9700 §4.3.2); any query string goes its way."""
    value = _token(backend_client)
    request = _request(f"Bearer {value}", path=f"/o/introspect/?access_token={value}")
    assert bearer_rule.bearer_token(request) is None
    response = client.post(
        f"/o/introspect/?access_token={value}",
        "token=x",
        content_type=FORM,
        HTTP_AUTHORIZATION=f"Bearer {value}",
    )
    assert response.status_code == 401


def test_endpoint_answers_alike_on_both_paths(client, cases, monkeypatch):
    """What the endpoint answers each case with, with the fast check and with DOT's path only."""

    def answers():
        return [
            introspect(client, "unknown-token", HTTP_AUTHORIZATION=authorization).status_code
            for _, authorization, _ in cases
        ]

    fast = answers()
    monkeypatch.setattr(bearer_rule, "accepts", lambda *args: False)
    monkeypatch.setattr("smart_auth.views.introspect.accepts", lambda *args: False)
    assert answers() == fast
    assert {200, 401, 403} <= set(fast)


def test_one_select_per_introspection(
    client, users, backend_client, public_client, django_assert_num_queries
):
    issued = Flow(client, public_client).run(USER_SCOPE, users["patient"]).json()
    client.logout()
    caller = backend_token(client, backend_client).json()["access_token"]
    with django_assert_num_queries(1):
        response = introspect(client, issued["access_token"], HTTP_AUTHORIZATION=f"Bearer {caller}")
    assert response.status_code == 200 and response.json()["active"] is True
    with django_assert_num_queries(1):
        response = introspect(client, caller, HTTP_AUTHORIZATION=f"Bearer {caller}")  # itself
    assert response.json()["active"] is True and response.json()["client_id"] == backend_client.client_id


def test_caller_revoked_or_expired_is_refused_at_the_next_request(
    client, users, backend_client, public_client
):
    """No caching of the caller's token: revocation and expiry count from the next request on."""
    issued = Flow(client, public_client).run(USER_SCOPE, users["patient"]).json()
    client.logout()
    for end in ("revoke", "expire"):
        caller = backend_token(client, backend_client).json()["access_token"]
        ok = introspect(client, issued["access_token"], HTTP_AUTHORIZATION=f"Bearer {caller}")
        assert ok.status_code == 200 and ok.json()["active"] is True
        rows = AccessToken.objects.filter(token_checksum=checksum(caller))
        if end == "revoke":
            rows.delete()
        else:
            rows.update(expires=timezone.now() - timedelta(seconds=1))
        refused = introspect(client, issued["access_token"], HTTP_AUTHORIZATION=f"Bearer {caller}")
        assert refused.status_code == 401 and 'error="invalid_token"' in refused["WWW-Authenticate"]


def test_token_rows_reads_what_the_orm_reads(client, users, backend_client, public_client):
    issued = Flow(client, public_client).run(USER_SCOPE, users["patient"]).json()
    client.logout()
    caller = backend_token(client, backend_client).json()["access_token"]
    values = (caller, issued["access_token"])
    expected = {
        row["token_checksum"]: row
        for row in AccessToken.objects.filter(token_checksum__in=[checksum(v) for v in values]).values(
            *ROW_FIELDS, "user__username"
        )
    }
    assert len(expected) == 2
    assert token_rows(*values) == expected
    assert token_rows(caller) == {checksum(caller): expected[checksum(caller)]}
    assert token_rows(caller, caller) == {checksum(caller): expected[checksum(caller)]}
    assert token_rows("nothing-like-it") == {}
    assert token_rows() == {}
    row = expected[checksum(issued["access_token"])]
    assert row["smart__context"]["patient"] and row["user__username"] == "patient"
    assert row["expires"].tzinfo is not None
