"""URLs of the demo app."""

from django.urls import include, path


urlpatterns = [path("", include("sandbox_project.demo_app.urls"))]
