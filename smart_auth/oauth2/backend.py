"""SmartOAuthLibCore (DOT ``OAUTH2_BACKEND_CLASS``): DOT's bridge to oauthlib, with the userinfo
endpoint given the absolute URI that RFC 8707 audience checks need.

DOT 3.4.1's ``verify_request`` makes the request URI absolute before the bearer token is checked
(a resource-restricted token is matched against it), but ``create_userinfo_response`` passes the
bare path: every SMART token, which always names its FHIR audience, was then refused at userinfo
as "not valid for this resource" (tests/smart_auth/test_userinfo.py).
"""

from oauth2_provider.oauth2_backends import OAuthLibCore


class SmartOAuthLibCore(OAuthLibCore):
    def create_userinfo_response(self, request):
        request.smart_absolute_uri = True
        try:
            return super().create_userinfo_response(request)
        finally:
            request.smart_absolute_uri = False

    def _extract_params(self, request):
        uri, http_method, body, headers = super()._extract_params(request)
        if getattr(request, "smart_absolute_uri", False):
            uri = request.build_absolute_uri(uri)  # as DOT's verify_request does
        return uri, http_method, body, headers
