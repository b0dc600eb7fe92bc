"""``{fhir-base}/.well-known/smart-configuration`` (SMART App Launch 2.2 "Conformance")."""

import json

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpResponse, JsonResponse
from django.urls import get_script_prefix, reverse
from django.utils.decorators import method_decorator
from django.views import View
from oauth2_provider.compat import login_not_required

from ..conf import smart_auth_settings
from ..hooks import issuer_for
from ..oauth2.scopes_backend import ADVERTISED


# Capability strings of SMART 2.2 that are true of this server (conformance.md).
CAPABILITIES = [
    "launch-ehr",
    "launch-standalone",
    "authorize-post",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "sso-openid-connect",
    "context-banner",
    "context-style",
    "context-ehr-patient",
    "context-ehr-encounter",
    "context-standalone-patient",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
]


def smart_configuration(request):
    issuer = issuer_for(request).rstrip("/")

    def url(name):
        return request.build_absolute_uri(reverse(name))

    grant_types = ["authorization_code", "client_credentials", "refresh_token"]
    if "token-exchange-openid" in smart_auth_settings.EXTRA_CAPABILITIES or (
        "token-exchange-accesstoken" in smart_auth_settings.EXTRA_CAPABILITIES
    ):
        grant_types.append("urn:ietf:params:oauth:grant-type:token-exchange")
    scopes = list(ADVERTISED)
    if "launch-token" in smart_auth_settings.EXTRA_CAPABILITIES:
        scopes.append("launch-token")
    document = {
        "issuer": issuer,
        "jwks_uri": url("oauth2_provider:jwks-info"),
        "authorization_endpoint": url("oauth2_provider:authorize"),
        "token_endpoint": url("oauth2_provider:token"),
        "introspection_endpoint": url("oauth2_provider:introspect"),
        "revocation_endpoint": url("oauth2_provider:revoke-token"),
        "userinfo_endpoint": url("oauth2_provider:user-info"),
        "management_endpoint": url("oauth2_provider:authorized-token-list"),
        "grant_types_supported": grant_types,
        "response_types_supported": ["code"],
        "token_endpoint_auth_methods_supported": [
            "private_key_jwt",
            "client_secret_basic",
            "client_secret_post",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384", "RS256", "ES256"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": scopes,
        "code_challenge_methods_supported": ["S256"],
        "capabilities": CAPABILITIES + list(smart_auth_settings.EXTRA_CAPABILITIES),
    }
    if smart_auth_settings.USER_ACCESS_BRAND_BUNDLE:
        document["user_access_brand_bundle"] = smart_auth_settings.USER_ACCESS_BRAND_BUNDLE
    if smart_auth_settings.ASSOCIATED_ENDPOINTS:
        document["associated_endpoints"] = list(smart_auth_settings.ASSOCIATED_ENDPOINTS)
    return document


_documents = {}
_MAX_DOCUMENTS = 64


@receiver(setting_changed)
def _forget_documents(**kwargs):
    _documents.clear()


@method_decorator(login_not_required, name="dispatch")
class SmartConfigurationView(View):
    """JSON whatever the Accept header, open to any origin, every URL absolute."""

    def get(self, request, *args, **kwargs):
        # The document depends only on the request's origin and path and on settings: build and
        # encode it once per (scheme, host, path), not per request.
        key = (request.scheme, request.get_host(), get_script_prefix(), request.path)
        body = _documents.get(key)
        if body is None:
            body = json.dumps(smart_configuration(request)).encode()
            if len(_documents) >= _MAX_DOCUMENTS:  # hosts come from the client: stay bounded
                _documents.clear()
            _documents[key] = body
        response = HttpResponse(body, content_type="application/json")
        response["Access-Control-Allow-Origin"] = "*"
        response["Cache-Control"] = "public, max-age=300"
        return response

    def options(self, request, *args, **kwargs):
        response = JsonResponse({})
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Allow-Headers"] = "Accept, Authorization"
        return response
