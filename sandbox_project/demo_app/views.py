"""Pages of the demo app: start a flow, receive the callbacks, show data and the protocol trace."""

from django.conf import settings
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import smart_client as sc


STANDALONE_SCOPE = "launch/patient openid fhirUser patient/*.rs offline_access"
EHR_SCOPE = "launch launch-token openid fhirUser patient/*.rs user/*.rs offline_access"
IMAGING_SCOPE = "launch/patient openid fhirUser patient/*.rs"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def home(request):
    session = sc.state_of(request)
    servers = {role: sc.read_fhir(request, role) for role in ("ehr", "imaging") if role in session["servers"]}
    return render(
        request,
        "demo_app/home.html",
        {
            "servers": servers,
            "trace": list(reversed(session["trace"]))[:60],
            "ehr": settings.EHR_FHIR_BASE,
            "imaging": settings.IMAGING_FHIR_BASE,
            "error": request.session.pop("error", None),
        },
    )


def launch(request):
    """The registered launch URL: an EHR launch arrives with iss and launch."""
    iss, handle = request.GET.get("iss"), request.GET.get("launch")
    if not iss or not handle:
        return HttpResponseBadRequest("EHR launch needs iss and launch")
    try:
        return redirect(sc.authorize_url(request, iss, EHR_SCOPE, launch=handle))
    except sc.FlowError as exc:
        return _failed(request, exc)


@require_POST
def start(request, role):
    iss = sc.FHIR_BASES[role]()
    try:
        return redirect(sc.authorize_url(request, iss, request.POST.get("scope") or STANDALONE_SCOPE))
    except sc.FlowError as exc:
        return _failed(request, exc)


def callback(request, role):
    try:
        sc.finish_authorization(request, role, request.GET.dict())
    except sc.FlowError as exc:
        return _failed(request, exc)
    return redirect("demo_app:home")


@require_POST
def multi(request, mechanism):
    """Reach the imaging server too, by one of the four multi-server mechanisms."""
    ehr = sc.state_of(request)["servers"].get("ehr", {}).get("token", {})
    imaging = sc.FHIR_BASES["imaging"]()
    try:
        if mechanism == "shared":
            url = sc.authorize_url(
                request, sc.FHIR_BASES["ehr"](), STANDALONE_SCOPE, resources=[sc.FHIR_BASES["ehr"](), imaging]
            )
            return redirect(url)
        if not ehr:
            raise sc.FlowError("Launch with the EHR first")
        if mechanism == "launch-token":
            if not ehr.get("launch_token"):
                raise sc.FlowError("The EHR token response carried no launch_token")
            return redirect(
                sc.authorize_url(
                    request, imaging, "launch openid fhirUser patient/*.rs", launch=ehr["launch_token"]
                )
            )
        if mechanism == "dual":
            return redirect(
                sc.authorize_url(request, imaging, IMAGING_SCOPE, extra={"login_hint": ehr["id_token"]})
            )
        if mechanism == "exchange":
            sc.token_exchange(request, ehr["access_token"], ACCESS_TOKEN_TYPE)
            return redirect("demo_app:home")
    except sc.FlowError as exc:
        return _failed(request, exc)
    return HttpResponseBadRequest("Unknown mechanism")


@require_POST
def backend(request, role):
    try:
        sc.backend_token(request, sc.FHIR_BASES[role]())
    except sc.FlowError as exc:
        return _failed(request, exc)
    return redirect("demo_app:home")


@require_POST
def reset(request):
    request.session.flush()
    return redirect("demo_app:home")


def _failed(request, exc):
    request.session["error"] = str(exc)
    return redirect("demo_app:home")
