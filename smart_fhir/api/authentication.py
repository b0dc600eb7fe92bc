"""DRF authentication: a SMART Bearer access token, validated by :mod:`smart_fhir.tokens`."""

from rest_framework.authentication import BaseAuthentication

from ..access import TokenUser
from ..tokens import get_validator
from ..urls_util import fhir_base_url, local_issuer
from .exceptions import FhirAuthenticationFailed


class SmartTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise FhirAuthenticationFailed("Use an RFC 6750 Bearer access token", error="invalid_request")
        access = get_validator().validate(token.strip(), fhir_base_url(request), local_issuer(request))
        return TokenUser(access), access

    def authenticate_header(self, request):
        return f'Bearer realm="{fhir_base_url(request)}"'
