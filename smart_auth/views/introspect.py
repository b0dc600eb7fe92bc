"""The introspection endpoint (RFC 7662): who is calling, then what they may see.

Callers authenticate as a confidential client (client secret or ``private_key_jwt``) or with a
bearer token that has the ``introspection`` scope (RFC 7662 §2.1). A public client cannot
authenticate (RFC 6749 §2.1), so its ``client_id`` alone, or HTTP Basic with an empty secret, is
refused. Refusals are 401 with a ``WWW-Authenticate`` challenge (RFC 6749 §5.2, RFC 6750 §3);
a valid token without the scope is 403 ``insufficient_scope``. What a caller then sees is decided
in ``smart_auth.introspection``.
"""

from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.compat import login_not_required
from oauth2_provider.views import IntrospectTokenView
from oauthlib.common import Request as OauthlibRequest

from ..bearer import accepts, bearer_token
from ..introspection import INTROSPECTION_SCOPE, Caller, checksum, introspect, is_designated, token_rows
from ..limits import request_problem
from .endpoints import FORM, _cors, _oauth_error, bearer_refusal, challenge


class Refused(Exception):
    def __init__(self, response):
        super().__init__(response.status_code)
        self.response = response


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(login_not_required, name="dispatch")
class SmartIntrospectTokenView(IntrospectTokenView):
    """RFC 7662 with SMART's fields, for the callers described above."""

    def dispatch(self, request, *args, **kwargs):
        # DOT's ClientProtectedResourceMixin would let a public client in by its client_id and
        # answer a bare 403; the caller is decided here instead.
        if request.method == "OPTIONS":
            return _cors(JsonResponse({}), request)
        if request.method != "POST":
            response = _oauth_error("invalid_request", "Use POST for token introspection", status=405)
            response["Allow"] = "POST, OPTIONS"
            return response
        if request.content_type != FORM:
            return _cors(_oauth_error("invalid_request", f"The request must be {FORM}"), request)
        problem = request_problem(request)
        if problem:
            return _cors(_oauth_error("invalid_request", problem), request)
        token = request.POST.get("token")
        rows = None
        fast = self._fast_bearer_caller(request, token)
        if fast is not None:
            caller, rows = fast
        else:
            try:
                caller = self.caller(request)
            except Refused as refused:
                return _cors(refused.response, request)
        if not token:
            return _cors(_oauth_error("invalid_request", "The token parameter is missing"), request)
        response = JsonResponse(introspect(token, request, caller, rows))
        response["Cache-Control"] = "no-store"
        return _cors(response, request)

    def caller(self, request):
        scheme = request.headers.get("Authorization", "").split(" ", 1)[0].lower()
        if scheme == "bearer":
            return self._bearer_caller(request)
        core = self.get_oauthlib_core()
        uri, method, body, headers = core._extract_params(request)
        oauth_request = OauthlibRequest(uri, method, body, headers)
        client = None
        if core.server.request_validator.authenticate_client(oauth_request):
            client = oauth_request.client
        if client is None or not _confidential(client):
            failed = challenge(request, 401, "invalid_client", "Client authentication failed", bearer=False)
            raise Refused(failed)
        return Caller(client.client_id, designated=is_designated(client))

    def _fast_bearer_caller(self, request, token):
        """The resource server's usual call, a bearer token with the scope, decided on the row
        that one SELECT reads together with the introspected token's (``token_rows``).

        Only ever accepts, and only where DOT's ``verify_request`` accepts
        (:func:`smart_auth.bearer.accepts`); every other request, a refusal included, takes
        DOT's own path in ``caller()``. Answers ``(caller, rows)`` or None.
        """
        if request.META.get("HTTP_AUTHORIZATION", "").split(" ", 1)[0].lower() != "bearer":
            return None  # caller() would not take it for a bearer token either
        bearer = bearer_token(request)
        if bearer is None:
            return None
        rows = token_rows(bearer, token if token and not token.startswith("lt_") else None)
        row = rows.get(checksum(bearer))
        if not accepts(row, self.get_scopes(), request, self.get_oauthlib_core()):
            return None
        return Caller(row["application__client_id"] or "", designated=True), rows

    def _bearer_caller(self, request):
        valid, oauth_request = self.verify_request(request)
        if not valid:
            raise Refused(bearer_refusal(self, request, INTROSPECTION_SCOPE))
        application = oauth_request.access_token.application
        return Caller(application.client_id if application else "", designated=True)


def _confidential(application):
    """Only a confidential client authenticates; a public one merely names itself."""
    smart = getattr(application, "smart", None)
    if smart is not None and smart.token_endpoint_auth_method == smart.AUTH_NONE:
        return False
    return application.client_type == application.CLIENT_CONFIDENTIAL
