"""The deployment's URLs plus a bare view that answers without any token check (benchmark only),
and the FHIR read/search through the full DRF view (the lean path off) for a before/after in one run.
"""

from django.http import HttpResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from smart_fhir.api.views import ResourceViewSet
from smart_fhir.urls import ID, TYPE
from tests.urls import urlpatterns as deployment_urlpatterns


BARE_BODY = b'{"resourceType":"Patient","id":"bare","name":[{"family":"Bare"}]}'


@csrf_exempt  # as the FHIR views are: the same middleware work for both
def bare_patient(request, resource_id):
    return HttpResponse(BARE_BODY, content_type="application/fhir+json")


class FullDrfViewSet(ResourceViewSet):
    lean_actions = frozenset()


# Last, like any view of the project: URL resolution walks the same list for both.
urlpatterns = [
    *deployment_urlpatterns,
    re_path(rf"^drf/fhir/{TYPE}/?$", FullDrfViewSet.as_view({"get": "search"})),
    re_path(rf"^drf/fhir/{TYPE}/{ID}/?$", FullDrfViewSet.as_view({"get": "read"})),
    path("bare/Patient/<str:resource_id>", bare_patient),
]
