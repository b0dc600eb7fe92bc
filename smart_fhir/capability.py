"""The CapabilityStatement (``/metadata``) and, without smart_auth, the SMART configuration."""

from __future__ import annotations

import functools

from django.apps import apps
from django.urls import NoReverseMatch, reverse

from .conf import fhir_settings
from .search import SEARCH_PARAMETERS


SMART_SECURITY_SERVICE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
            "code": "SMART-on-FHIR",
            "display": "SMART-on-FHIR",
        }
    ],
    "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)",
}
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
PARAM_TYPES = {"token": "token", "string": "string", "reference": "reference", "date": "date"}
OAUTH_URI_KEYS = {
    "authorize": "authorization_endpoint",
    "token": "token_endpoint",
    "introspect": "introspection_endpoint",
    "revoke": "revocation_endpoint",
}


def oauth_uris(request) -> dict:
    """The authorize/token/introspect/revoke URLs: the local smart_auth's, else from settings."""
    if apps.is_installed("smart_auth"):
        names = {
            "authorize": "oauth2_provider:authorize",
            "token": "oauth2_provider:token",
            "introspect": "oauth2_provider:introspect",
            "revoke": "oauth2_provider:revoke-token",
        }
        try:
            return {key: request.build_absolute_uri(reverse(name)) for key, name in names.items()}
        except NoReverseMatch:
            pass
    configuration = fhir_settings.SMART_CONFIGURATION or {}
    return {key: configuration[field] for key, field in OAUTH_URI_KEYS.items() if configuration.get(field)}


def capability_statement(base_url: str, request) -> dict:
    uris = tuple(sorted(oauth_uris(request).items()))
    return _statement(base_url, uris, tuple(fhir_settings.RESOURCE_TYPES), bool(fhir_settings.READ_ONLY))


@functools.lru_cache(maxsize=16)
def _statement(base_url, uris, resource_types, read_only):
    interactions = ["read", "vread", "history-instance", "search-type"]
    if not read_only:
        interactions += ["create", "update", "delete"]
    resources = []
    for resource_type in resource_types:
        params = SEARCH_PARAMETERS.get(resource_type, {})
        references = [p.name for p in params.values() if p.kind == "reference"]
        reverse_includes = [
            f"{source}:{p.name}"
            for source, source_params in SEARCH_PARAMETERS.items()
            if source in resource_types
            for p in source_params.values()
            if p.kind == "reference" and p.target == resource_type
        ]
        resources.append(
            {
                "type": resource_type,
                "interaction": [{"code": code} for code in interactions],
                "versioning": "versioned",
                "readHistory": True,
                "updateCreate": not read_only,
                "conditionalCreate": False,
                "conditionalUpdate": False,
                "conditionalDelete": "not-supported",
                "searchInclude": [f"{resource_type}:{name}" for name in references],
                "searchRevInclude": reverse_includes,
                "searchParam": [
                    {"name": "_id", "type": "token"},
                    {"name": "_lastUpdated", "type": "date"},
                    *({"name": p.name, "type": PARAM_TYPES[p.kind]} for p in params.values()),
                ],
            }
        )
    extension = [{"url": key, "valueUri": value} for key, value in uris]
    security = {"cors": True, "service": [SMART_SECURITY_SERVICE]}
    if extension:
        security["extension"] = [{"url": OAUTH_URIS, "extension": extension}]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2025-01-01",
        "publisher": "django-smart-multiserver",
        "kind": "instance",
        "software": {"name": "smart_fhir"},
        "implementation": {"description": "SMART on FHIR R4 resource server", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "security": security,
                "resource": resources,
            }
        ],
    }


def smart_configuration() -> dict:
    """The discovery document served when a remote authorization server governs this server."""
    return dict(fhir_settings.SMART_CONFIGURATION or {})
