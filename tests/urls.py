from sandbox_project.urls import urlpatterns  # noqa: F401  (the same URLconf as the deployments)
