"""URLs of the EHR and imaging deployments (the apps a role does not install are skipped)."""

from django.apps import apps
from django.contrib import admin
from django.urls import include, path
from oauth2_provider import views as dot_views


urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("o/", include("smart_auth.oauth2_urls")),
    path(
        ".well-known/oauth-authorization-server/o",
        dot_views.OAuthServerMetadataView.as_view(),
        name="oauth-server-metadata",
    ),
    path("fhir/", include("smart_auth.urls")),
]
if apps.is_installed("smart_fhir"):
    urlpatterns.append(path("fhir/", include("smart_fhir.urls")))  # any prefix works

for app_label, module in (
    ("imaging_consent", "imaging_consent.urls"),
    ("fhircast_hub", "fhircast_hub.urls"),
    ("sandbox_project", "sandbox_project.pages.urls"),
):
    if apps.is_installed(app_label):
        urlpatterns.append(path("", include(module)))
