from django.urls import include, path


urlpatterns = [path("fhir/", include("smart_fhir.urls"))]
