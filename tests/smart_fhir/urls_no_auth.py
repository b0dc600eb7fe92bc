from django.urls import include, path


urlpatterns = [path("", include("smart_fhir.urls"))]
