from django.urls import path

from . import views


app_name = "fhircast_hub"

urlpatterns = [
    path("hub", views.hub, name="hub"),
    path("hub/", views.hub),
    path("hub/.well-known/fhircast-configuration", views.configuration, name="configuration"),
    path(".well-known/fhircast-configuration", views.configuration),
    path("hub/session", views.sessions, name="sessions"),
    path("hub/<str:topic_name>", views.topic, name="topic"),
]
