"""EHR launches carry ``smart_style_url`` (SMART 2.2 "Launch context": ``smart_style_url``), from
``SMART_AUTH["SMART_STYLE_URL"]`` or, unset, the style shipped with smart_auth."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.test import override_settings

from tests.conftest import Flow


pytestmark = pytest.mark.django_db
SCOPE = "launch openid fhirUser patient/*.rs"
SHIPPED = "http://testserver/static/smart_auth/smart-style.json"


def _launch_handle(public_client, capsys):
    call_command(
        "smart_launch", "--client", public_client.client_id, "--user", "clinician", "--patient", "pat-1"
    )
    url = capsys.readouterr().out.strip()
    return parse_qs(urlsplit(url).query)["launch"][0]


def _token_after_launch(client, users, public_client, handle):
    return Flow(client, public_client).run(SCOPE, users["clinician"], launch=handle).json()


def test_smart_launch_command_carries_the_configured_style(client, users, public_client, capsys, settings):
    handle = _launch_handle(public_client, capsys)
    token = _token_after_launch(client, users, public_client, handle)
    assert token["patient"] == "pat-1"
    assert token["smart_style_url"] == settings.SMART_AUTH["SMART_STYLE_URL"]


def test_without_a_setting_launches_carry_the_shipped_style(client, users, public_client, capsys, settings):
    without_style = {k: v for k, v in settings.SMART_AUTH.items() if k != "SMART_STYLE_URL"}
    with override_settings(SMART_AUTH=without_style):
        handle = _launch_handle(public_client, capsys)
        assert _token_after_launch(client, users, public_client, handle)["smart_style_url"] == SHIPPED
        client.force_login(users["clinician"])
        minted = client.post("/o/launch/", {"client_id": public_client.client_id, "patient": "pat-2"}).json()
        handle = parse_qs(urlsplit(minted["launch_url"]).query)["launch"][0]
        assert _token_after_launch(client, users, public_client, handle)["smart_style_url"] == SHIPPED
