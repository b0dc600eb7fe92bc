"""A deterministic synthetic data set for the sandbox's EHR and imaging deployments.

Both roles hold the same patients (same MRN) and the same imaging studies (same Study Instance
UID and accession number) under different resource ids. Loading is idempotent: a resource whose
content is already stored is left alone, so a second run creates no new versions.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from .storage import get_storage
from .validation import validate_resource


MRN_SYSTEM = "http://hospital.example/mrn"
DICOM_UID_SYSTEM = "urn:dicom:uid"
ACCESSION_SYSTEM = "http://hospital.example/accession"
DEMO_PRACTITIONER_ID = "prac-1"
ROLES = ("ehr", "imaging")
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
LOINC = "http://loinc.org"
DCM = "http://dicom.nema.org/resources/ontology/DCM"

FAMILIES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Martinez",
    "Lopez",
]
GIVEN = ["Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Robin"]
LABS = [
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 140),
    ("718-7", "Hemoglobin", "g/dL", 11, 17),
]
VITALS = [("8867-4", "Heart rate", "/min", 55, 100), ("29463-7", "Body weight", "kg", 50, 110)]
MODALITIES = [("CT", "Computed Tomography"), ("MR", "Magnetic Resonance"), ("CR", "Computed Radiography")]


def _prefix(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    return "" if role == "ehr" else "im-"


def demo_patient_id(role: str, index: int) -> str:
    """The id of demo patient ``index`` (1 = the demo user ``patient``) on ``role``'s server."""
    return f"{_prefix(role)}pat-{index}"


def mrn(index: int) -> str:
    return f"MRN-{index:04d}"


def study_uid(index: int, number: int) -> str:
    return f"urn:oid:2.25.{7000000000 + index * 100 + number}"


def accession(index: int, number: int) -> str:
    return f"ACC-{index:04d}-{number}"


def _code(system, code, display):
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _ref(resource_type, ident):
    return {"reference": f"{resource_type}/{ident}"}


def practitioners() -> list[dict]:
    names = [("Clinic", "Casey"), ("House", "Greg"), ("Grey", "Meredith")]
    return [
        {
            "resourceType": "Practitioner",
            "id": f"prac-{n}",
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": f"99999999{n:02d}"}],
            "name": [{"family": family, "given": [given], "prefix": ["Dr."]}],
            "active": True,
        }
        for n, (family, given) in enumerate(names, start=1)
    ]


def imaging_endpoint() -> dict:
    return {
        "resourceType": "Endpoint",
        "id": "dicomweb",
        "status": "active",
        "name": "Imaging DICOMweb (WADO-RS)",
        "connectionType": {
            "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
            "code": "dicom-wado-rs",
        },
        "payloadType": [_code("http://terminology.hl7.org/CodeSystem/endpoint-payload-type", "any", "Any")],
        "payloadMimeType": ["application/dicom"],
        "address": "https://imaging.example/dicomweb",
    }


def patient_resources(role: str, index: int) -> list[dict]:
    """Every resource of demo patient ``index`` on ``role``'s server."""
    rng = random.Random(index)  # the same draws on both roles keep the copies identical
    prefix = _prefix(role)
    pid = demo_patient_id(role, index)
    birth = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 60))
    patient = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": MRN_SYSTEM, "value": mrn(index)}],
        "active": True,
        "name": [{"family": rng.choice(FAMILIES), "given": [rng.choice(GIVEN)]}],
        "gender": rng.choice(["female", "male"]),
        "birthDate": birth.isoformat(),
    }
    visit = date(2024, 1, 1) + timedelta(days=rng.randrange(0, 300))
    studies = []
    for number in (1, 2)[: 1 + (index % 3 == 0)]:
        modality, display = MODALITIES[(index + number) % len(MODALITIES)]
        study = {
            "resourceType": "ImagingStudy",
            "id": f"{prefix}study-{index}-{number}",
            "identifier": [
                {"system": DICOM_UID_SYSTEM, "value": study_uid(index, number)},
                {
                    "type": _code("http://terminology.hl7.org/CodeSystem/v2-0203", "ACSN", "Accession ID"),
                    "system": ACCESSION_SYSTEM,
                    "value": accession(index, number),
                },
            ],
            "status": "available",
            "modality": [{"system": DCM, "code": modality, "display": display}],
            "subject": _ref("Patient", pid),
            "started": f"{visit.isoformat()}T09:{10 + number:02d}:00Z",
            "numberOfSeries": 1,
            "numberOfInstances": 20 + number,
            "description": f"{display} study {number}",
            "series": [
                {
                    "uid": f"2.25.{8000000000 + index * 100 + number}",
                    "number": 1,
                    "modality": {"system": DCM, "code": modality},
                    "numberOfInstances": 20 + number,
                }
            ],
        }
        if role == "imaging":
            study["endpoint"] = [_ref("Endpoint", "dicomweb")]
            study["series"][0]["endpoint"] = [_ref("Endpoint", "dicomweb")]
        studies.append(study)
    if role == "imaging":
        return [patient, *studies]
    patient["generalPractitioner"] = [_ref("Practitioner", DEMO_PRACTITIONER_ID)]
    resources = [patient]
    encounters = []
    for number in (1, 2):
        day = visit + timedelta(days=30 * (number - 1))
        encounters.append(
            {
                "resourceType": "Encounter",
                "id": f"enc-{index}-{number}",
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": _ref("Patient", pid),
                "participant": [{"individual": _ref("Practitioner", DEMO_PRACTITIONER_ID)}],
                "period": {"start": f"{day.isoformat()}T09:00:00Z", "end": f"{day.isoformat()}T10:00:00Z"},
            }
        )
    resources += encounters
    lab_ids = []
    for category, codes in (("laboratory", LABS), ("vital-signs", VITALS)):
        for number, (code, display, unit, low, high) in enumerate(codes, start=1):
            oid = f"obs-{index}-{category[:3]}-{number}"
            if category == "laboratory":
                lab_ids.append(oid)
            resources.append(
                {
                    "resourceType": "Observation",
                    "id": oid,
                    "status": "final",
                    "category": [_code(OBSERVATION_CATEGORY, category, category.replace("-", " ").title())],
                    "code": _code(LOINC, code, display),
                    "subject": _ref("Patient", pid),
                    "encounter": _ref("Encounter", encounters[0]["id"]),
                    "effectiveDateTime": f"{visit.isoformat()}T09:30:00Z",
                    "valueQuantity": {
                        "value": rng.randint(low, high),
                        "unit": unit,
                        "system": "http://unitsofmeasure.org",
                        "code": unit,
                    },
                }
            )
    resources.append(
        {
            "resourceType": "DiagnosticReport",
            "id": f"dr-{index}-lab",
            "status": "final",
            "category": [_code(V2_0074, "LAB", "Laboratory")],
            "code": _code(LOINC, "24323-8", "Comprehensive metabolic panel"),
            "subject": _ref("Patient", pid),
            "encounter": _ref("Encounter", encounters[0]["id"]),
            "effectiveDateTime": f"{visit.isoformat()}T11:00:00Z",
            "result": [_ref("Observation", i) for i in lab_ids],
        }
    )
    resources.append(
        {
            "resourceType": "DiagnosticReport",
            "id": f"dr-{index}-rad",
            "status": "final",
            "category": [_code(V2_0074, "RAD", "Radiology")],
            "code": _code(LOINC, "18748-4", "Diagnostic imaging study"),
            "subject": _ref("Patient", pid),
            "effectiveDateTime": f"{visit.isoformat()}T12:00:00Z",
            "imagingStudy": [_ref("ImagingStudy", s["id"]) for s in studies],
            "conclusion": "No acute findings.",
        }
    )
    return resources + studies


def demo_resources(role: str, patients: int = 50) -> list[dict]:
    shared = practitioners() if role == "ehr" else [imaging_endpoint()]
    return shared + [r for i in range(1, patients + 1) for r in patient_resources(role, i)]


def load_demo_data(role: str, patients: int = 50) -> dict[str, int]:
    """Store the demo data set for ``role``; returns how many resources were written per type."""
    storage = get_storage()
    written: dict[str, int] = {}
    for resource in demo_resources(role, patients):
        resource_type, ident = resource["resourceType"], resource["id"]
        validate_resource(resource_type, resource)
        current = storage.read(resource_type, ident)
        if current is not None and _content(current) == _content(resource):
            continue
        storage.update(resource_type, ident, resource)
        written[resource_type] = written.get(resource_type, 0) + 1
    return written


def _content(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k != "meta"}
