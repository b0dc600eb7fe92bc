"""DOT's URL patterns with SMART's views in place of DOT's (namespace ``oauth2_provider``).

Mount under ``/o/``: ``path("o/", include("smart_auth.oauth2_urls"))``.
"""

from django.urls import path
from oauth2_provider import urls as dot_urls
from oauth2_provider import views as dot_views

from . import views


app_name = "oauth2_provider"

urlpatterns = [
    path("authorize/", views.authorization_view, name="authorize"),
    path("token/", views.SmartTokenView.as_view(), name="token"),
    path("introspect/", views.SmartIntrospectTokenView.as_view(), name="introspect"),
    path("revoke_token/", views.SmartRevokeTokenView.as_view(), name="revoke-token"),
    path("launch/", views.LaunchView.as_view(), name="smart-launch"),
    path("clients/<str:client_id>", views.ClientRegistryView.as_view(), name="smart-client-registry"),
    path(
        ".well-known/oauth-authorization-server",
        dot_views.OAuthServerMetadataView.as_view(),
        name="oauth-server-metadata-issuer",
    ),
    # The user's own list of authorized apps (SMART management_endpoint); clients are
    # registered in the admin, so DOT's application self-service pages are not mounted.
    *[p for p in dot_urls.management_urlpatterns if p.name.startswith("authorized-token")],
    *dot_urls.oidc_urlpatterns,
]
