"""The toolkit mounted under a vendor's own prefix (issue 14): FHIR at /api/r4/."""

from django.contrib.auth import views as auth_views
from django.urls import include, path


urlpatterns = [
    path(
        "accounts/login/", auth_views.LoginView.as_view(template_name="smart_auth/login.html"), name="login"
    ),
    path("o/", include("smart_auth.oauth2_urls")),
    path("api/r4/", include("smart_auth.urls")),
    path("api/r4/", include("smart_fhir.urls")),
    path("", include("fhircast_hub.urls")),
]
