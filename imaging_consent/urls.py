from django.urls import path

from . import views


app_name = "imaging_consent"

urlpatterns = [
    path("consent/ehr-callback", views.ehr_callback, name="ehr-callback"),
    path("consents/", views.consent_list, name="consents"),
    path("consents/<int:pk>/revoke", views.revoke, name="revoke"),
]
