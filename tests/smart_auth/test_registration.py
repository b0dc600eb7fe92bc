"""Client registration: management commands and the Django admin."""

import io
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import CommandError, call_command
from oauth2_provider.models import Application

from smart_auth.models import LaunchContext, SmartClient


pytestmark = pytest.mark.django_db


def register(metadata):
    out = io.StringIO()
    import sys

    stdin, sys.stdin = sys.stdin, io.StringIO(json.dumps(metadata))
    try:
        call_command("smart_client", "register", stdout=out)
    finally:
        sys.stdin = stdin
    return json.loads(out.getvalue())


def test_register_confidential_client_prints_secret_once():
    data = register(
        {
            "client_name": "App",
            "redirect_uris": ["https://app.example/cb"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "launch patient/*.rs",
            "launch_uri": "https://app.example/launch",
            "software_id": "demo-app",
        }
    )
    app = Application.objects.get(client_id=data["client_id"])
    assert data["client_secret"] and app.client_secret != data["client_secret"]
    assert app.smart.software_id == "demo-app" and app.smart.launch_uri == "https://app.example/launch"


def test_register_honours_client_id_and_jwks():
    from tests.conftest import ClientKey

    key = ClientKey("ES384")
    data = register(
        {
            "client_id": "fixed-id",
            "client_name": "Backend",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks,
            "scope": "system/*.rs",
        }
    )
    assert data["client_id"] == "fixed-id" and "client_secret" not in data


@pytest.mark.parametrize(
    "metadata",
    [
        {"client_name": "x", "redirect_uris": ["not a url"]},
        {"client_name": "x", "redirect_uris": ["https://a.example/cb#frag"]},
        {"client_name": "x", "grant_types": ["password"], "redirect_uris": ["https://a.example/cb"]},
        {
            "client_name": "x",
            "token_endpoint_auth_method": "private_key_jwt",
            "redirect_uris": ["https://a.example/cb"],
        },
        {
            "client_name": "x",
            "jwks": {"keys": [{"kty": "RSA", "kid": "k", "n": "x", "e": "AQAB", "d": "secret"}]},
            "redirect_uris": ["https://a.example/cb"],
        },
        {"client_name": "x", "scope": "patient/Foo.zz", "redirect_uris": ["https://a.example/cb"]},
    ],
)
def test_register_refuses_bad_metadata(metadata):
    with pytest.raises(CommandError):
        register(metadata)
    assert not Application.objects.exists()


def test_smart_launch_command_prints_launch_url(users, public_client):
    out = io.StringIO()
    call_command(
        "smart_launch",
        "--client",
        public_client.client_id,
        "--user",
        "clinician",
        "--patient",
        "pat-1",
        "--encounter",
        "enc-1",
        stdout=out,
    )
    url = out.getvalue().strip()
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("https://app.example/launch?")
    assert query["iss"] == ["http://testserver/fhir"]
    launch = LaunchContext.objects.get(handle=query["launch"][0])
    assert launch.patient == "pat-1" and launch.user == users["clinician"]


def test_launch_endpoint_for_signed_in_ehr_user(client, users, public_client):
    client.force_login(users["clinician"])
    response = client.post("/o/launch/", {"client_id": public_client.client_id, "patient": "pat-2"})
    assert response.status_code == 201
    assert response.json()["launch_url"].startswith("https://app.example/launch?")
    forbidden = client.post("/o/launch/", {"client_id": public_client.client_id, "patient": "pat-999"})
    assert forbidden.status_code == 403
    client.logout()
    assert client.post("/o/launch/", {"client_id": public_client.client_id}).status_code == 403


def test_admin_registers_a_client_with_smart_metadata(admin_client):
    response = admin_client.get("/admin/oauth2_provider/application/add/")
    assert response.status_code == 200
    assert b'name="smart-0-launch_uri"' in response.content  # the SMART inline is on the form
    form = {
        "client_id": "admin-made",
        "name": "Admin app",
        "client_type": "confidential",
        "authorization_grant_type": "authorization-code",
        "redirect_uris": "https://app.example/cb",
        "post_logout_redirect_uris": "",
        "allowed_origins": "",
        "algorithm": "RS256",
        "client_secret": "s3cret-value-123",
        "hash_client_secret": "on",
        "smart-TOTAL_FORMS": "1",
        "smart-INITIAL_FORMS": "0",
        "smart-MIN_NUM_FORMS": "0",
        "smart-MAX_NUM_FORMS": "1",
        "smart-0-enabled": "on",
        "smart-0-token_endpoint_auth_method": "client_secret_basic",
        "smart-0-grant_types": '["authorization_code"]',
        "smart-0-launch_uri": "https://app.example/launch",
        "smart-0-allowed_scopes": "launch patient/*.rs",
        "smart-0-allowed_audiences": "[]",
        "smart-0-jwks": "null",
        "smart-0-software_id": "",
        "smart-0-jwks_uri": "",
        "smart-0-logo_uri": "",
    }
    response = admin_client.post("/admin/oauth2_provider/application/add/", form, follow=True)
    assert response.status_code == 200
    app = Application.objects.get(client_id="admin-made")
    assert app.smart.allowed_scopes == "launch patient/*.rs"
    assert b"s3cret-value-123" in response.content  # shown once
    assert app.client_secret != "s3cret-value-123"


def test_admin_rejects_invalid_jwks(admin_client):
    form = {
        "client_id": "bad-jwks",
        "name": "Bad",
        "client_type": "confidential",
        "authorization_grant_type": "client-credentials",
        "redirect_uris": "",
        "post_logout_redirect_uris": "",
        "allowed_origins": "",
        "algorithm": "RS256",
        "client_secret": "x",
        "hash_client_secret": "on",
        "smart-TOTAL_FORMS": "1",
        "smart-INITIAL_FORMS": "0",
        "smart-MIN_NUM_FORMS": "0",
        "smart-MAX_NUM_FORMS": "1",
        "smart-0-enabled": "on",
        "smart-0-token_endpoint_auth_method": "private_key_jwt",
        "smart-0-grant_types": '["client_credentials"]',
        "smart-0-allowed_scopes": "system/*.rs",
        "smart-0-allowed_audiences": "[]",
        "smart-0-jwks": '{"keys": [{"kty": "RSA"}]}',
        "smart-0-software_id": "",
        "smart-0-jwks_uri": "",
        "smart-0-logo_uri": "",
        "smart-0-launch_uri": "",
    }
    response = admin_client.post("/admin/oauth2_provider/application/add/", form)
    assert response.status_code == 200  # the form is shown again with errors
    assert not Application.objects.filter(client_id="bad-jwks").exists()
    assert not SmartClient.objects.exists()


def test_unknown_metadata_is_an_error_naming_it():
    """Issue 14: unknown fields are refused, not dropped."""
    with pytest.raises(CommandError, match="unsupported client metadata: audience, tos_uri"):
        register(
            {
                "client_name": "App",
                "redirect_uris": ["https://app.example/cb"],
                "audience": "x",
                "tos_uri": "y",
            }
        )
    assert not Application.objects.exists()


def test_help_lists_the_accepted_fields():
    from smart_auth.registration import FIELDS

    out = io.StringIO()
    parser = __import__("smart_auth.management.commands.smart_client", fromlist=["Command"]).Command()
    parser.create_parser("manage.py", "smart_client").print_help(out)
    for field in (
        "redirect_uris",
        "grant_types",
        "token_endpoint_auth_method",
        "jwks",
        "software_id",
        "client_id",
    ):
        assert field in out.getvalue()
    assert set(FIELDS) >= {
        "client_id",
        "software_id",
        "grant_types",
        "scope",
        "audiences",
        "skip_authorization",
    }
