"""The EHR's own pages in the sandbox: patient list, chart, and "Launch app" (EHR launch)."""

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from oauth2_provider.models import get_application_model

from smart_auth.conf import smart_auth_settings
from smart_auth.launch import create_launch, launch_url
from smart_auth.resources import governed


def _storage():
    if not apps.is_installed("smart_fhir"):
        return None
    from smart_fhir.storage import get_storage

    return get_storage()


def _launchable_apps():
    return [
        app
        for app in get_application_model().objects.select_related("smart").order_by("name")
        if getattr(app, "smart", None) and app.smart.launch_uri and app.smart.enabled
    ]


@login_required
def home(request):
    patients = smart_auth_settings.PATIENT_CHOICES(request, request.user)
    return render(request, "pages/home.html", {"patients": patients, "apps": _launchable_apps()})


@login_required
def chart(request, patient_id):
    allowed = {str(i) for i, _ in smart_auth_settings.PATIENT_CHOICES(request, request.user)}
    if patient_id not in allowed:
        return HttpResponseForbidden("You may not open this patient")
    storage = _storage()
    sections = {}
    patient = None
    if storage:
        patient = storage.read("Patient", patient_id)
        for kind in ("Encounter", "DiagnosticReport", "ImagingStudy"):
            sections[kind] = storage.search(kind, {"patient": [patient_id], "_count": ["50"]}).resources
    return render(
        request,
        "pages/chart.html",
        {"patient_id": patient_id, "patient": patient, "sections": sections, "apps": _launchable_apps()},
    )


@login_required
@require_POST
def launch(request):
    """Mint an EHR launch for the chosen app and patient and open the app's launch URL."""
    allowed = {str(i) for i, _ in smart_auth_settings.PATIENT_CHOICES(request, request.user)}
    patient = request.POST.get("patient", "")
    if patient not in allowed:
        return HttpResponseForbidden("You may not launch for this patient")
    application = get_application_model().objects.filter(client_id=request.POST.get("client_id", "")).first()
    if application is None or application not in _launchable_apps():
        return HttpResponseBadRequest("Unknown app")
    handle = create_launch(
        application,
        user=request.user,
        patient=patient,
        encounter=request.POST.get("encounter", ""),
        smart_style_url=smart_auth_settings.SMART_STYLE_URL or "",
    )
    return redirect(launch_url(handle, next(iter(governed()))))
