"""FHIR R4 REST resource server that enforces SMART scopes and launch context."""

__version__ = "0.1.0"
