from django.urls import path

from . import views


app_name = "pages"

urlpatterns = [
    path("", views.home, name="home"),
    path("chart/<str:patient_id>/", views.chart, name="chart"),
    path("ehr-launch", views.launch, name="launch"),
    path("fhircast/", views.fhircast_demo, name="fhircast"),
]
