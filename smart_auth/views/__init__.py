from .authorize import SmartAuthorizationView
from .discovery import SmartConfigurationView
from .endpoints import (
    ClientRegistryView,
    LaunchView,
    SmartIntrospectTokenView,
    SmartRevokeTokenView,
    SmartTokenView,
)


__all__ = [
    "ClientRegistryView",
    "LaunchView",
    "SmartAuthorizationView",
    "SmartConfigurationView",
    "SmartIntrospectTokenView",
    "SmartRevokeTokenView",
    "SmartTokenView",
]
