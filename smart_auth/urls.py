"""URL patterns to mount at a FHIR base: ``path("fhir/", include("smart_auth.urls"))``."""

from django.urls import path

from .views import SmartConfigurationView


app_name = "smart_auth"

urlpatterns = [
    path(".well-known/smart-configuration", SmartConfigurationView.as_view(), name="smart-configuration"),
]
