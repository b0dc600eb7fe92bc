"""Validation of incoming resources with fhir.resources (FHIR R4B models for R4-era JSON)."""

from __future__ import annotations

import functools
import re

from pydantic import ValidationError


ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class InvalidResource(ValueError):
    """The body is not a valid FHIR resource of the expected type (HTTP 400 or 422)."""

    def __init__(self, message, issues=()):
        super().__init__(message)
        self.issues = list(issues) or [message]


@functools.lru_cache(maxsize=64)
def _model(resource_type):
    from fhir.resources.R4B import get_fhir_model_class

    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError, LookupError):
        return None


def validate_resource(resource_type: str, body) -> dict:
    """Return ``body`` if it is a valid ``resource_type`` resource, else raise InvalidResource."""
    if not isinstance(body, dict):
        raise InvalidResource("The body must be a JSON object (a FHIR resource)")
    if body.get("resourceType") != resource_type:
        raise InvalidResource(f"resourceType must be {resource_type!r}, not {body.get('resourceType')!r}")
    if "id" in body and not (isinstance(body["id"], str) and ID_RE.match(body["id"])):
        raise InvalidResource("id must match [A-Za-z0-9-.]{1,64}")
    model = _model(resource_type)
    if model is None:
        raise InvalidResource(f"{resource_type} is not a FHIR R4 resource type")
    try:
        model.model_validate(body)
    except ValidationError as exc:
        issues = [
            f"{'.'.join(str(p) for p in error['loc']) or resource_type}: {error['msg']}"
            for error in exc.errors()[:20]
        ]
        raise InvalidResource(f"Invalid {resource_type}", issues)
    return body
