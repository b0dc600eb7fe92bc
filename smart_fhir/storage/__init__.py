"""Storage backends. ``get_storage()`` returns the one named by ``SMART_FHIR["STORAGE_BACKEND"]``."""

from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from .base import (
    SEARCH_FEATURES,
    Conflict,
    Entry,
    Grant,
    NotSupported,
    SearchResult,
    StorageBackend,
    StorageError,
    VersionConflict,
    grant_allows,
)


__all__ = [
    "SEARCH_FEATURES",
    "Conflict",
    "Entry",
    "Grant",
    "NotSupported",
    "SearchResult",
    "StorageBackend",
    "StorageError",
    "VersionConflict",
    "get_storage",
    "grant_allows",
]

_backend = None


def get_storage() -> StorageBackend:
    global _backend
    if _backend is None:
        from ..conf import fhir_settings

        _backend = import_string(fhir_settings.STORAGE_BACKEND)()
    return _backend


def _reset(setting, **kwargs):
    global _backend
    if setting == "SMART_FHIR":
        _backend = None


setting_changed.connect(_reset, weak=False)
