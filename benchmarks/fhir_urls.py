"""The deployment's URLs plus a bare view that answers without any token check (benchmark only)."""

from django.http import HttpResponse
from django.urls import path

from tests.urls import urlpatterns as deployment_urlpatterns


BARE_BODY = b'{"resourceType":"Patient","id":"bare","name":[{"family":"Bare"}]}'


def bare_patient(request, resource_id):
    return HttpResponse(BARE_BODY, content_type="application/fhir+json")


# Last, like any view of the project: URL resolution walks the same list for both.
urlpatterns = [*deployment_urlpatterns, path("bare/Patient/<str:resource_id>", bare_patient)]
