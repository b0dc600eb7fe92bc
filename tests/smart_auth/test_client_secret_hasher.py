"""Client secrets without PBKDF2 on every token request (smart_auth.hashers.ClientSecretHasher).

A generated, high-entropy secret is stored as one salted HMAC-SHA256; a short or low-entropy one
(typed by an admin) keeps PBKDF2; clients stored with PBKDF2 before keep authenticating; nothing
shows a secret; checks E011 / E012 / W003 catch a PASSWORD_HASHERS that cannot work
(RFC 6749 §2.3.1 client_secret_basic / client_secret_post, RFC 7662 §2.1 introspection callers).
"""

import base64
import io
import json
import os
import secrets
import subprocess
import sys
from urllib.parse import urlencode

import pytest
from django.conf import global_settings
from django.contrib.auth.hashers import check_password, get_hasher, identify_hasher, make_password
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import override_settings
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import Application
from oauth2_provider.settings import oauth2_settings

from smart_auth import hashers
from smart_auth.checks import check_settings
from smart_auth.hashers import ClientSecretHasher, estimated_entropy_bits, is_high_entropy
from smart_auth.presets import CLIENT_SECRET_HASHER_CLASS, oauth2_provider_settings
from smart_auth.registration import register_client
from tests.conftest import FORM, token_post

from ..vendor.readme import ROOT


MD5 = "django.contrib.auth.hashers.MD5PasswordHasher"
PBKDF2 = "django.contrib.auth.hashers.PBKDF2PasswordHasher"
OURS = "smart_auth.hashers.ClientSecretHasher"
FAST = "smart_client_secret_sha256$"


def basic(client_id, secret):
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def client_credentials(client, app_id, secret, post=False):
    data = {"grant_type": "client_credentials", "scope": "system/*.rs"}
    if post:
        return token_post(client, {**data, "client_id": app_id, "client_secret": secret})
    return token_post(client, data, HTTP_AUTHORIZATION=basic(app_id, secret))


def register_by_command(method="client_secret_basic", scope="system/*.rs"):
    """``manage.py smart_client register``, as the sandbox and a vendor register a client."""
    out = io.StringIO()
    metadata = {
        "client_name": "Secret backend",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": method,
        "scope": scope,
    }
    stdin, sys.stdin = sys.stdin, io.StringIO(json.dumps(metadata))
    try:
        call_command("smart_client", "register", stdout=out)
    finally:
        sys.stdin = stdin
    data = json.loads(out.getvalue())
    return Application.objects.get(client_id=data["client_id"]), data["client_secret"]


def stored(app):
    return Application.objects.values_list("client_secret", flat=True).get(pk=app.pk)


# --- over HTTP ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_a_registered_client_gets_a_token_and_its_secret_is_stored_with_the_fast_hash(client, method):
    app, secret = register_by_command(method)
    assert stored(app).startswith(FAST) and stored(app) != secret and secret not in stored(app)
    response = client_credentials(client, app.client_id, secret, post=method == "client_secret_post")
    assert response.status_code == 200, response.content
    assert response.json()["access_token"] and response.json()["token_type"] == "Bearer"


@pytest.mark.django_db
@pytest.mark.parametrize("post", [False, True])
def test_a_wrong_secret_is_invalid_client(client, post):
    app, secret = register_by_command()
    for wrong in ("wrong", secret[:-1], secret + "x", secret[:-1] + ("A" if secret[-1] != "A" else "B"), ""):
        response = client_credentials(client, app.client_id, wrong, post=post)
        assert response.status_code == 401, wrong
        assert response.json()["error"] == "invalid_client"
        assert secret not in response.content.decode()


@pytest.mark.django_db
def test_introspection_with_basic_auth_uses_the_fast_hash(client):
    """RFC 7662 §2.1: a client_secret_basic resource server introspects (the other per-request
    client-secret check)."""
    app, secret = register_by_command(scope="system/*.rs introspection")
    token = client_credentials(client, app.client_id, secret).json()["access_token"]
    response = client.post(
        "/o/introspect/",
        urlencode({"token": token}),
        content_type=FORM,
        HTTP_ACCEPT="application/json",
        HTTP_AUTHORIZATION=basic(app.client_id, secret),
    )
    assert response.status_code == 200 and response.json()["active"] is True
    wrong = client.post(
        "/o/introspect/",
        urlencode({"token": token}),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(app.client_id, secret[::-1]),
    )
    assert wrong.status_code == 401


ADMIN_SECRET = "s3cret-value-123"  # 16 characters an admin typed: not a generated secret


def _admin_form(client_id, secret):
    return {
        "client_id": client_id,
        "name": "Admin-made backend",
        "client_type": "confidential",
        "authorization_grant_type": "client-credentials",
        "redirect_uris": "",
        "post_logout_redirect_uris": "",
        "allowed_origins": "",
        "algorithm": "RS256",
        "client_secret": secret,
        "hash_client_secret": "on",
        "smart-TOTAL_FORMS": "1",
        "smart-INITIAL_FORMS": "0",
        "smart-MIN_NUM_FORMS": "0",
        "smart-MAX_NUM_FORMS": "1",
        "smart-0-enabled": "on",
        "smart-0-token_endpoint_auth_method": "client_secret_basic",
        "smart-0-grant_types": '["client_credentials"]',
        "smart-0-launch_uri": "",
        "smart-0-allowed_scopes": "system/*.rs",
        "smart-0-allowed_audiences": "[]",
        "smart-0-jwks": "null",
        "smart-0-software_id": "",
        "smart-0-jwks_uri": "",
        "smart-0-logo_uri": "",
    }


def test_a_short_admin_typed_secret_keeps_pbkdf2_and_authenticates(admin_client, client):
    response = admin_client.post(
        "/admin/oauth2_provider/application/add/", _admin_form("admin-typed", ADMIN_SECRET), follow=True
    )
    assert response.status_code == 200
    app = Application.objects.get(client_id="admin-typed")
    assert stored(app).startswith("pbkdf2_sha256$") and ADMIN_SECRET not in stored(app)
    assert client_credentials(client, app.client_id, ADMIN_SECRET).status_code == 200
    assert client_credentials(client, app.client_id, ADMIN_SECRET + "!").status_code == 401
    change = admin_client.get(f"/admin/oauth2_provider/application/{app.pk}/change/")
    assert change.status_code == 200 and ADMIN_SECRET.encode() not in change.content


@pytest.mark.django_db
def test_a_client_stored_with_pbkdf2_before_keeps_working_and_is_not_rehashed(client):
    """Existing deployments: identify_hasher() picks PBKDF2 for the old hash; verifying does not
    silently rewrite it."""
    app, secret = register_by_command()
    old = make_password(secret, hasher="pbkdf2_sha256")
    Application.objects.filter(pk=app.pk).update(client_secret=old)
    assert client_credentials(client, app.client_id, secret).status_code == 200
    assert client_credentials(client, app.client_id, "wrong-" + secret).status_code == 401
    assert stored(app) == old


@pytest.mark.django_db
def test_a_new_secret_set_on_an_old_client_gets_the_fast_hash(client):
    app, _ = register_by_command()
    Application.objects.filter(pk=app.pk).update(client_secret=make_password("x" * 8, hasher="pbkdf2_sha256"))
    app.refresh_from_db()
    new = generate_client_secret()
    app.client_secret = new
    app.save()
    assert stored(app).startswith(FAST)
    assert client_credentials(client, app.client_id, new).status_code == 200


# --- the hasher -----------------------------------------------------------------------------


def test_dot_names_the_hasher_by_its_algorithm():
    """DOT: make_password(secret, hasher=CLIENT_SECRET_HASHER), an algorithm name."""
    assert oauth2_provider_settings("", issuer=None)["CLIENT_SECRET_HASHER"] == hashers.ALGORITHM
    assert oauth2_settings.CLIENT_SECRET_HASHER == hashers.ALGORITHM
    assert type(get_hasher(oauth2_settings.CLIENT_SECRET_HASHER)) is ClientSecretHasher
    assert CLIENT_SECRET_HASHER_CLASS == OURS


@pytest.mark.parametrize(
    "secret",
    [
        generate_client_secret(),  # DOT: 128 characters
        secrets.token_urlsafe(32),  # smart_auth.registration: 43 characters, 256 bits
        secrets.token_hex(32),  # 64 hex digits
        "é" + secrets.token_urlsafe(40),
    ],
)
def test_high_entropy_secrets_get_one_salted_hmac(secret):
    hasher = ClientSecretHasher()
    encoded = make_password(secret, hasher=hashers.ALGORITHM)
    algorithm, salt, digest = encoded.split("$")
    assert algorithm == hashers.ALGORITHM and len(salt) >= 22 and len(base64.b64decode(digest)) == 32
    assert identify_hasher(encoded).algorithm == hashers.ALGORITHM
    assert check_password(secret, encoded) and hasher.verify(secret, encoded)
    assert not check_password(secret + "x", encoded) and not check_password(secret[1:], encoded)
    assert not hasher.verify(None, encoded)
    assert make_password(secret, hasher=hashers.ALGORITHM) != encoded  # salted
    assert not hasher.must_update(encoded)
    assert len(encoded) < 128  # fits DOT's client_secret column (255)


@pytest.mark.parametrize(
    "secret",
    [
        "s3cret-value-123",
        "hunter2!",
        secrets.token_urlsafe(20),  # random, but under 32 characters
        "a" * 64,
        "password" * 6,  # 48 characters, 7 distinct, repetitive
        "ab" * 40,
        # 32 hex digits, 15 of them distinct: 32 x log2(15) ≈ 125 bits at most. (A random 32-digit
        # hex string that uses all 16 digits estimates the 128 bits it really has, and is then
        # rightly fast-hashed: not a case for this test.)
        "0123456789abcde0123456789abcde01",
    ],
)
def test_short_or_low_entropy_secrets_are_not_fast_hashed(secret):
    assert not is_high_entropy(secret)


def test_a_weak_secret_is_encoded_and_verified_by_pbkdf2():
    encoded = make_password(ADMIN_SECRET, hasher=hashers.ALGORITHM)
    assert encoded.startswith("pbkdf2_sha256$") and ADMIN_SECRET not in encoded
    assert identify_hasher(encoded).algorithm == "pbkdf2_sha256"
    assert check_password(ADMIN_SECRET, encoded) and not check_password(ADMIN_SECRET[:-1], encoded)


def test_entropy_estimate():
    assert estimated_entropy_bits("") == 0 and estimated_entropy_bits("a" * 100) == 0
    assert estimated_entropy_bits(generate_client_secret()) > 500
    assert estimated_entropy_bits("password" * 6) < hashers.MIN_ENTROPY_BITS
    assert is_high_entropy(secrets.token_urlsafe(32).encode())  # bytes, as make_password accepts


def test_weak_secret_without_pbkdf2_listed_is_refused_not_stored_unverifiable():
    with override_settings(PASSWORD_HASHERS=[MD5, OURS]):
        with pytest.raises(ImproperlyConfigured, match="E012"):
            make_password("short", hasher=hashers.ALGORITHM)
        assert make_password(generate_client_secret(), hasher=hashers.ALGORITHM).startswith(FAST)


def test_encode_refuses_none_and_bad_salts():
    with pytest.raises(TypeError):
        ClientSecretHasher().encode(None, "salt")
    with pytest.raises(ValueError):
        ClientSecretHasher().encode(generate_client_secret(), "sa$lt")


def test_nothing_shows_the_secret_or_the_whole_hash():
    secret = generate_client_secret()
    hasher = ClientSecretHasher()
    encoded = make_password(secret, hasher=hashers.ALGORITHM)
    digest = encoded.rsplit("$", 1)[1]
    summary = hasher.safe_summary(encoded)
    shown = " ".join([str(summary), repr(summary), repr(hasher), str(hasher)])
    assert secret not in shown and digest not in shown and digest[:12] not in shown
    assert summary["algorithm"] == hashers.ALGORITHM
    assert not hasher.verify(secret, "pbkdf2_sha256$1$salt$hash")  # not ours: never matches


@pytest.mark.django_db
def test_application_repr_and_str_hide_the_secret():
    app, secret = register_client(
        {
            "client_name": "Shown app",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "system/*.rs",
        }
    )
    for text in (repr(app), str(app), repr(Application.objects.get(pk=app.pk))):
        assert secret not in text


# --- system checks --------------------------------------------------------------------------


def ids():
    return {problem.id for problem in check_settings(None)}


OUR_IDS = {"smart_auth.E011", "smart_auth.E012", "smart_auth.W003"}


def test_the_test_settings_need_no_client_secret_check():
    assert not ids() & OUR_IDS


def test_e011_when_password_hashers_lacks_the_class(settings):
    settings.PASSWORD_HASHERS = list(global_settings.PASSWORD_HASHERS)
    problems = [p for p in check_settings(None) if p.id == "smart_auth.E011"]
    assert len(problems) == 1 and OURS in problems[0].hint
    with pytest.raises(ValueError):  # what DOT would hit at client creation
        make_password(generate_client_secret(), hasher=hashers.ALGORITHM)


def test_e011_for_any_hasher_name_password_hashers_lacks(settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "CLIENT_SECRET_HASHER": "nope_sha1"}
    assert "smart_auth.E011" in ids()
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "CLIENT_SECRET_HASHER": "default"}
    assert not ids() & OUR_IDS


def test_e012_when_pbkdf2_is_missing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher", OURS]
    assert ids() & OUR_IDS == {"smart_auth.E012"}


def test_w003_when_it_is_first(settings):
    settings.PASSWORD_HASHERS = [OURS, *global_settings.PASSWORD_HASHERS]
    assert ids() & OUR_IDS == {"smart_auth.W003"}


def test_a_subclass_counts(settings):
    settings.PASSWORD_HASHERS = [MD5, PBKDF2, "tests.smart_auth.test_client_secret_hasher.Renamed"]
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "CLIENT_SECRET_HASHER": Renamed.algorithm}
    assert not ids() & OUR_IDS
    settings.PASSWORD_HASHERS = [MD5, "tests.smart_auth.test_client_secret_hasher.Renamed"]
    assert ids() & OUR_IDS == {"smart_auth.E012"}


class Renamed(ClientSecretHasher):
    algorithm = "vendor_client_secret"


def test_the_sandbox_settings_pass_the_checks(tmp_path):
    """sandbox_project.settings: Django's default hashers first, then ClientSecretHasher."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "DJANGO_"))}
    environment.update(
        {"SANDBOX_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "sandbox_project.settings.ehr"}
    )
    probe = (
        "import django, json; django.setup(); from django.conf import settings; "
        "from smart_auth.checks import check_settings; "
        "print(json.dumps([settings.PASSWORD_HASHERS, settings.OAUTH2_PROVIDER['CLIENT_SECRET_HASHER'], "
        "[p.id for p in check_settings(None)]]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=environment, cwd=ROOT, capture_output=True, text=True, check=True
    )
    hashers_, name, problems = json.loads(result.stdout.strip().splitlines()[-1])
    assert hashers_ == [*global_settings.PASSWORD_HASHERS, OURS]
    assert name == hashers.ALGORITHM and not set(problems) & OUR_IDS
