"""``manage.py smart_signing_key`` (issue 14): makes the key the README's settings read."""

import io
import os
import stat

import pytest
from django.core.management import CommandError, call_command
from jwcrypto.jwk import JWK

from smart_auth.presets import oauth2_provider_settings, read_signing_key


def test_writes_a_private_key_file_readable_by_the_owner_only(tmp_path):
    path = tmp_path / "signing-key.pem"
    out = io.StringIO()
    call_command("smart_signing_key", "--out", str(path), stdout=out)
    assert f"Wrote a new signing key to {path}" in out.getvalue()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    key = JWK.from_pem(path.read_bytes())
    assert key.has_private and key["kty"] == "RSA"
    assert read_signing_key(path) == path.read_text()


def test_never_overwrites_a_key(tmp_path):
    path = tmp_path / "signing-key.pem"
    path.write_text("existing")
    with pytest.raises(CommandError, match="exists"):
        call_command("smart_signing_key", "--out", str(path))
    assert path.read_text() == "existing"


def test_prints_a_pem_without_out():
    out = io.StringIO()
    call_command("smart_signing_key", stdout=out)
    assert JWK.from_pem(out.getvalue().encode()).has_private


def test_runs_before_a_key_exists(tmp_path):
    """The settings read a key that is not there yet: check E002 must not stop the command, and
    the other commands say how to make one."""
    import subprocess
    import sys

    from .readme import ROOT

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.vendor.settings_no_key"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    made = subprocess.run([*manage, "smart_signing_key", "--out", str(tmp_path / "k.pem")], env=env, cwd=ROOT)
    assert made.returncode == 0 and (tmp_path / "k.pem").exists()
    check = subprocess.run([*manage, "check"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert check.returncode != 0 and "smart_auth.E002" in check.stderr and "smart_signing_key" in check.stderr


@pytest.mark.django_db
def test_rotation_publishes_the_old_key_beside_the_new(settings, client, tmp_path):
    for name in ("old.pem", "new.pem"):
        call_command("smart_signing_key", "--out", str(tmp_path / name), stdout=io.StringIO())
    settings.OAUTH2_PROVIDER = oauth2_provider_settings(
        read_signing_key(tmp_path / "new.pem"),
        issuer="http://testserver/o",
        inactive_keys=[read_signing_key(tmp_path / "old.pem")],
        ALWAYS_RELOAD_OAUTHLIB_CORE=True,
    )
    kids = {k["kid"] for k in client.get("/o/.well-known/jwks.json").json()["keys"]}
    expected = {JWK.from_pem((tmp_path / n).read_bytes()).thumbprint() for n in ("old.pem", "new.pem")}
    assert kids == expected
