"""The per-process client registry (smart_auth.client_registry) never serves a stale registration.

Each test first makes a request, so the process keeps the registration, then changes it the way
another process or a vendor's code would: QuerySet.update(), raw SQL, a delete, a new client.
The very next token request must see the change (SMART App Launch 2.2 "Client Authentication":
the server authenticates against the client's *current* registration; fail closed).
"""

import json

import pytest
from django.db import connection

from smart_auth import client_registry
from smart_auth.models import SmartClient
from smart_auth.registration import register_client
from tests.conftest import ClientKey
from tests.smart_auth.test_backend_services import request_token


pytestmark = pytest.mark.django_db


def _warm(client, app):
    assert request_token(client, app).status_code == 200
    assert client_registry.application(app.client_id) is not None


def test_disabled_by_queryset_update_is_refused_at_the_next_request(client, backend_client):
    _warm(client, backend_client)
    SmartClient.objects.filter(application=backend_client).update(enabled=False)  # no signals
    response = request_token(client, backend_client)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_keys_replaced_by_raw_sql_are_used_at_the_next_request(client, backend_client):
    _warm(client, backend_client)
    new_key = ClientKey("ES384")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {SmartClient._meta.db_table} SET jwks = %s WHERE application_id = %s",
            [json.dumps(new_key.jwks), backend_client.pk],
        )
    assert request_token(client, backend_client).status_code == 401  # the old key: refused
    backend_client.key = new_key
    assert request_token(client, backend_client).status_code == 200


def test_a_deleted_client_is_unknown_at_the_next_request(client, backend_client):
    _warm(client, backend_client)
    assertion = backend_client.key.assertion(backend_client.client_id)
    SmartClient.objects.filter(application=backend_client).delete()
    type(backend_client).objects.filter(pk=backend_client.pk).delete()
    response = request_token(client, backend_client, assertion=assertion)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_a_client_registered_after_its_id_was_looked_up_works_at_once(client):
    assert client_registry.application("registered-later") is None  # kept as unknown
    key = ClientKey("RS384")
    app, _ = register_client(
        {
            "client_id": "registered-later",
            "client_name": "Later",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks,
            "scope": "system/*.rs",
        }
    )
    app.key = key
    assert request_token(client, app).status_code == 200


def test_each_caller_gets_its_own_copy(backend_client):
    first = client_registry.application(backend_client.client_id)
    first.name = "changed by one request"
    assert client_registry.application(backend_client.client_id).name != "changed by one request"
