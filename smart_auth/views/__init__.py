from .authorize import SmartAuthorizationView
from .discovery import SmartConfigurationView
from .endpoints import (
    ClientRegistryView,
    LaunchView,
    SmartRevokeTokenView,
    SmartTokenView,
)
from .introspect import SmartIntrospectTokenView


def authorization_view(request, *args, **kwargs):
    """The configured ``AUTHORIZATION_VIEW_CLASS`` (resolved per request, so settings may change)."""
    from ..conf import smart_auth_settings

    return smart_auth_settings.AUTHORIZATION_VIEW_CLASS.as_view()(request, *args, **kwargs)


__all__ = [
    "authorization_view",
    "ClientRegistryView",
    "LaunchView",
    "SmartAuthorizationView",
    "SmartConfigurationView",
    "SmartIntrospectTokenView",
    "SmartRevokeTokenView",
    "SmartTokenView",
]
