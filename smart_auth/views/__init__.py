from .authorize import SmartAuthorizationView
from .discovery import SmartConfigurationView
from .endpoints import LaunchView, SmartIntrospectTokenView, SmartRevokeTokenView, SmartTokenView


__all__ = [
    "LaunchView",
    "SmartAuthorizationView",
    "SmartConfigurationView",
    "SmartIntrospectTokenView",
    "SmartRevokeTokenView",
    "SmartTokenView",
]
