from django.urls import path

from . import views


app_name = "demo_app"

urlpatterns = [
    path("", views.home, name="home"),
    path("launch", views.launch, name="launch"),
    path("start/<str:role>", views.start, name="start"),
    path("callback/<str:role>", views.callback, name="callback"),
    path("backend/<str:role>", views.backend, name="backend"),
    path("multi/<str:mechanism>", views.multi, name="multi"),
    path("reset", views.reset, name="reset"),
    # The sandbox's readiness probe asks every deployment for its login page.
    path("accounts/login/", views.home),
]
