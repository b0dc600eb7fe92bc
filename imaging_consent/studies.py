"""Imaging studies offered on the consent screen, matched across servers by Study Instance UID."""

from .conf import consent_settings


def _label(study):
    modality = ", ".join(m.get("code", "") for m in study.get("modality", []) if m.get("code"))
    return " · ".join(x for x in (study.get("started", "")[:10], modality, study.get("description", "")) if x)


def _accession(study):
    for identifier in study.get("identifier", []):
        if identifier.get("system") == consent_settings.ACCESSION_SYSTEM or (
            identifier.get("type", {}).get("coding", [{}])[0].get("code") == "ACSN"
        ):
            return identifier.get("value", "")
    return ""


def _uid(study):
    for identifier in study.get("identifier", []):
        if identifier.get("system") == consent_settings.STUDY_IDENTIFIER_SYSTEM:
            return identifier.get("value")
    return None


def offer(study):
    """What the consent screen shows of one of our studies."""
    return {
        "id": study["id"],
        "started": study.get("started", "")[:10],
        "modality": ", ".join(m.get("code", "") for m in study.get("modality", []) if m.get("code")),
        "description": study.get("description", ""),
        "accession": _accession(study),
        "label": _label(study),
    }


def local_studies(patient):
    from smart_fhir.storage import get_storage

    found = get_storage().search("ImagingStudy", {"patient": [patient], "_count": ["100"]}).resources
    return [offer(s) for s in found]


def match_studies(ehr_bundle, patient):
    """Our studies of ``patient`` that the EHR listed for the user (same Study Instance UID)."""
    wanted = {_uid(e.get("resource", {})) for e in ehr_bundle.get("entry", [])} - {None}
    return [s for s in _ours_with_uid(patient) if s["uid"] in wanted]


def _ours_with_uid(patient):
    from smart_fhir.storage import get_storage

    found = get_storage().search("ImagingStudy", {"patient": [patient], "_count": ["100"]}).resources
    return [{**offer(s), "uid": _uid(s)} for s in found]
