"""DOT ``SCOPES_BACKEND_CLASS`` for the SMART grammar (DOT's default is a fixed list)."""

from oauth2_provider.scopes import BaseScopes

from .. import scopes as smart_scopes


class _Descriptions(dict):
    """Describes any grammar-valid scope, so DOT code indexing ``get_all_scopes()[s]`` never fails."""

    def __missing__(self, key):
        return smart_scopes.describe(key)


ADVERTISED = [
    "openid",
    "fhirUser",
    "profile",
    "launch",
    "launch/patient",
    "launch/encounter",
    "offline_access",
    "online_access",
    "patient/*.cruds",
    "user/*.cruds",
    "system/*.cruds",
    "patient/*.read",
    "user/*.read",
    "system/*.read",
]


class SmartScopes(BaseScopes):
    def get_all_scopes(self):
        return _Descriptions({s: smart_scopes.describe(s) for s in ADVERTISED})

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        if application is None:
            return list(ADVERTISED)
        smart = getattr(application, "smart", None)
        return smart_scopes.split(smart.allowed_scopes) if smart else []

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        return []
