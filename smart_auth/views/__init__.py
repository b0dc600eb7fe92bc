from django.views.decorators.csrf import csrf_exempt, csrf_protect

from ..pending import PendingAuthorization
from .authorize import AuthorizationError, DecisionError, SmartAuthorizationView, param
from .discovery import SmartConfigurationView
from .endpoints import (
    ClientRegistryView,
    LaunchView,
    SmartRevokeTokenView,
    SmartTokenView,
)
from .introspect import SmartIntrospectTokenView


@csrf_exempt
def authorization_view(request, *args, **kwargs):
    """The configured ``AUTHORIZATION_VIEW_CLASS`` (resolved per request, so settings may change).

    CSRF is the view class's to decide (``SmartAuthorizationView`` accepts a cross-site
    ``authorize-post`` and protects its consent form); any other class keeps Django's check.
    """
    from ..conf import smart_auth_settings

    view = smart_auth_settings.AUTHORIZATION_VIEW_CLASS.as_view()
    if not getattr(view, "csrf_exempt", False):
        view = csrf_protect(view)
    return view(request, *args, **kwargs)


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
