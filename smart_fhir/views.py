"""Plain Django views of smart_fhir (the FHIR API itself is in ``api/``)."""

from django.http import JsonResponse
from django.views import View

from .capability import smart_configuration


class SmartConfigurationView(View):
    """``{base}/.well-known/smart-configuration`` for a remote authorization server (SMART 2.2
    "Conformance"): JSON whatever the Accept header, open to any origin."""

    def get(self, request, *args, **kwargs):
        response = JsonResponse(smart_configuration())
        response["Access-Control-Allow-Origin"] = "*"
        response["Cache-Control"] = "public, max-age=300"
        return response
