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


def _session_context(user):
    """The FHIRcast context of the user's session: which patient and study are open."""
    if not apps.is_installed("fhircast_hub"):
        return None
    from fhircast_hub.context import current_context
    from fhircast_hub.smart import session_topic

    topic = session_topic(user)
    current = current_context(topic.state)
    return {
        "topic": topic.name,
        "type": current["context.type"],
        "items": [
            f"{c['key']}: {c.get('resource', {}).get('resourceType')}/{c.get('resource', {}).get('id')}"
            for c in current["context"]
        ],
    }


@login_required
def home(request):
    patients = smart_auth_settings.PATIENT_CHOICES(request, request.user)
    return render(
        request,
        "pages/home.html",
        {"patients": patients, "apps": _launchable_apps(), "fhircast": _session_context(request.user)},
    )


@login_required
def fhircast_demo(request):
    """Two viewer panes subscribed to the signed-in user's FHIRcast session."""
    if not apps.is_installed("fhircast_hub"):
        return HttpResponseBadRequest("This deployment has no FHIRcast hub")
    from django.conf import settings

    from fhircast_hub.smart import session_topic
    from smart_auth.hooks import issuer_for
    from smart_auth.issuance import internal_application, issue_access_token

    viewer = internal_application("sandbox-ehr-viewer", "EHR viewer (internal)")
    token = issue_access_token(
        viewer,
        user=request.user,
        scope="fhircast/*.write fhircast/*.read",
        audience=[f"{settings.BASE_URL}/fhir"],
        issuer=issuer_for(request),
        lifetime=3600,
    )
    storage = _storage()
    patients = smart_auth_settings.PATIENT_CHOICES(request, request.user)[:4]
    items = []
    for ident, label in patients:
        studies = (
            storage.search("ImagingStudy", {"patient": [ident], "_count": ["2"]}).resources if storage else []
        )
        items.append(
            {
                "id": ident,
                "label": label,
                "studies": [{"id": s["id"], "label": s.get("description", s["id"])} for s in studies],
            }
        )
    return render(
        request,
        "pages/fhircast.html",
        {
            "token": token,
            "topic": session_topic(request.user).name,
            "hub": f"{settings.BASE_URL}/hub",
            "patients": items,
        },
    )


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
