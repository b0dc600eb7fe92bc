"""The CapabilityStatement (``/metadata``) and, without smart_auth, the SMART configuration."""

from __future__ import annotations

import functools

from django.apps import apps
from django.urls import NoReverseMatch, reverse

from .conf import fhir_settings
from .search import PATIENT_COMPARTMENT
from .storage import get_storage


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
PATIENT_COMPARTMENT_URL = "http://hl7.org/fhir/CompartmentDefinition/patient"
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
    storage = get_storage()
    return _statement(
        base_url, uris, tuple(fhir_settings.RESOURCE_TYPES), bool(fhir_settings.READ_ONLY), storage
    )


WRITES = {"create", "update", "patch", "delete"}
MODIFIERS = {
    "string": ("exact", "contains", "missing"),
    "token": ("missing",),
    "reference": ("missing",),
    "date": ("missing",),
}


@functools.lru_cache(maxsize=16)
def _statement(base_url, uris, resource_types, read_only, storage):
    """What the installed storage answers, per type (a new backend or setting is a new key)."""
    resources = [_resource(storage, t, resource_types, read_only) for t in resource_types]
    extension = [{"url": key, "valueUri": value} for key, value in uris]
    security = {"cors": True, "service": [SMART_SECURITY_SERVICE]}
    if extension:
        security["extension"] = [{"url": OAUTH_URIS, "extension": extension}]
    rest = {"mode": "server", "security": security, "resource": resources}
    system = [{"code": "batch"}] if any(r["interaction"] for r in resources) else []
    if storage.supports_transactions and not read_only:
        system.insert(0, {"code": "transaction"})
    if system:
        rest["interaction"] = system
    if "Patient" in resource_types and any(r["_compartment"] and r["type"] != "Patient" for r in resources):
        rest["compartment"] = [PATIENT_COMPARTMENT_URL]
    for resource in resources:
        resource.pop("_compartment", None)
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
        "patchFormat": ["application/json-patch+json"],
        "rest": [rest],
    }


def _resource(storage, resource_type, resource_types, read_only) -> dict:
    codes = [c for c in storage.interactions(resource_type) if not (read_only and c in WRITES)]
    searches = "search-type" in codes
    features = storage.search_features if searches else frozenset()
    params = storage.search_parameters(resource_type) if searches else {}
    references = [p for p in params.values() if p.kind == "reference"]
    resource = {
        "type": resource_type,
        "interaction": [{"code": code} for code in codes],
        "versioning": "versioned-update" if "vread" in codes and "update" in codes else "no-version",
        "readHistory": "vread" in codes,
        "updateCreate": "update" in codes,
        "conditionalCreate": "create" in codes and searches,
        "conditionalUpdate": "update" in codes and searches,
        "conditionalDelete": "single" if "delete" in codes and searches else "not-supported",
    }
    if "_include" in features:
        resource["searchInclude"] = [f"{resource_type}:{p.name}" for p in references]
    if "_revinclude" in features:
        resource["searchRevInclude"] = [
            f"{source}:{p.name}"
            for source in resource_types
            if "search-type" in storage.interactions(source)
            for p in storage.search_parameters(source).values()
            if p.kind == "reference" and p.target == resource_type
        ]
    if searches:
        resource["searchParam"] = [
            {"name": "_id", "type": "token"},
            {"name": "_lastUpdated", "type": "date"},
            *(_search_param(p, features) for p in params.values()),
        ]
        if "_sort" in features:
            resource["documentation"] = "_sort by _id, _lastUpdated and any string, token or date parameter"
    resource["_compartment"] = searches and resource_type in PATIENT_COMPARTMENT
    return resource


def _search_param(param, features) -> dict:
    entry = {"name": param.name, "type": PARAM_TYPES[param.kind]}
    notes = [f":{m}" for m in MODIFIERS[param.kind] if m in features]
    if param.kind == "reference" and "chain" in features and param.target:
        notes.append(f"chaining one level ({param.name}.<{param.target} parameter>)")
    if notes:
        entry["documentation"] = "Supports " + ", ".join(notes)
    return entry


def smart_configuration() -> dict:
    """The discovery document served when a remote authorization server governs this server."""
    return dict(fhir_settings.SMART_CONFIGURATION or {})
