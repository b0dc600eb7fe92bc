"""FHIR REST routes relative to the FHIR base: mount them under any prefix, e.g.
``path("fhir/", include("smart_fhir.urls"))`` serves ``/fhir/metadata``, ``/fhir/Patient/…``.

When smart_auth is installed the project mounts ``smart_auth.urls`` at the same prefix for the
SMART configuration; otherwise this URLconf serves one built from ``SMART_FHIR["SMART_CONFIGURATION"]``.
"""

from django.apps import apps
from django.urls import path, re_path

from .api.views import CapabilityStatementView, ResourceViewSet, UnknownRouteView
from .views import SmartConfigurationView


app_name = "smart_fhir"

TYPE = r"(?P<resource_type>[A-Z][A-Za-z]{1,63})"
ID = r"(?P<resource_id>[A-Za-z0-9\-.]{1,64})"
VERSION = r"(?P<version_id>[A-Za-z0-9\-.]{1,64})"

urlpatterns = [
    path("metadata", CapabilityStatementView.as_view(), name="metadata"),
    re_path(
        rf"^{TYPE}/?$",
        ResourceViewSet.as_view({"get": "search", "post": "create"}),
        name="type",
    ),
    re_path(rf"^{TYPE}/_search/?$", ResourceViewSet.as_view({"post": "search"}), name="search"),
    re_path(
        rf"^{TYPE}/{ID}/?$",
        ResourceViewSet.as_view({"get": "read", "put": "update", "delete": "delete"}),
        name="instance",
    ),
    re_path(rf"^{TYPE}/{ID}/_history/?$", ResourceViewSet.as_view({"get": "history"}), name="history"),
    re_path(rf"^{TYPE}/{ID}/_history/{VERSION}/?$", ResourceViewSet.as_view({"get": "vread"}), name="vread"),
]

if not apps.is_installed("smart_auth"):
    urlpatterns.append(
        path(
            ".well-known/smart-configuration",
            SmartConfigurationView.as_view(),
            name="smart-configuration",
        )
    )

# Last of all, kept apart so that every FHIR route above (and any added there) wins: anything
# else under the FHIR base is a 404 OperationOutcome. `.well-known/` is left to the projects'
# discovery URLconfs (smart_auth.urls may be included at the same prefix after this one).
fallback_urlpatterns = [
    re_path(r"^(?!\.well-known/).*$", UnknownRouteView.as_view(), name="unknown"),
]
urlpatterns += fallback_urlpatterns
