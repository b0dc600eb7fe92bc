from ..pending import PendingAuthorization
from .authorize import AuthorizationError, DecisionError, SmartAuthorizationView, param
from .discovery import SmartConfigurationView
from .endpoints import (
    ClientRegistryView,
    LaunchView,
    SmartIntrospectTokenView,
    SmartRevokeTokenView,
    SmartTokenView,
)


def authorization_view(request, *args, **kwargs):
    """The configured ``AUTHORIZATION_VIEW_CLASS`` (resolved per request, so settings may change)."""
    from ..conf import smart_auth_settings

    return smart_auth_settings.AUTHORIZATION_VIEW_CLASS.as_view()(request, *args, **kwargs)


__all__ = [
    "AuthorizationError",
    "DecisionError",
    "PendingAuthorization",
    "param",
    "authorization_view",
    "ClientRegistryView",
    "LaunchView",
    "SmartAuthorizationView",
    "SmartConfigurationView",
    "SmartIntrospectTokenView",
    "SmartRevokeTokenView",
    "SmartTokenView",
]
