"""The search parameters this server supports, per resource type (FHIR R4 names and paths).

A vendor adds parameters by extending :data:`SEARCH_PARAMETERS`; the default backend indexes
every parameter listed here when a resource is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from .values import (
    IndexValue,
    date_values,
    path_values,
    reference_values,
    string_values,
    token_values,
)


EXTRACTORS = {
    "token": token_values,
    "string": string_values,
    "reference": reference_values,
    "date": date_values,
}


@dataclass(frozen=True)
class SearchParameter:
    name: str
    kind: str  # token | string | reference | date
    paths: tuple[str, ...]
    target: str = ""  # the default resource type of a reference parameter given a bare id

    def extract(self, resource: dict) -> list[IndexValue]:
        extract = EXTRACTORS[self.kind]
        values = []
        for path in self.paths:
            for node in path_values(resource, path):
                values.extend(extract(node))
        if self.kind == "reference" and self.target and self.name == "patient":
            values = [v for v in values if v.value.startswith(f"{self.target}/")]
        return values


def _p(name, kind, *paths, target=""):
    return SearchParameter(name, kind, paths, target)


_IDENTIFIER = _p("identifier", "token", "identifier")
_PATIENT = _p("patient", "reference", "subject", target="Patient")
_SUBJECT = _p("subject", "reference", "subject", target="Patient")
_ENCOUNTER = _p("encounter", "reference", "encounter", target="Encounter")
_STATUS = _p("status", "token", "status")
_NAME = _p("name", "string", "name")
_FAMILY = _p("family", "string", "name.family")
_GIVEN = _p("given", "string", "name.given")


def _index(*params: SearchParameter) -> dict[str, SearchParameter]:
    return {p.name: p for p in params}


SEARCH_PARAMETERS: dict[str, dict[str, SearchParameter]] = {
    "Patient": _index(
        _IDENTIFIER,
        _NAME,
        _FAMILY,
        _GIVEN,
        _p("birthdate", "date", "birthDate"),
        _p("gender", "token", "gender"),
        _p("general-practitioner", "reference", "generalPractitioner", target="Practitioner"),
    ),
    "Encounter": _index(
        _IDENTIFIER,
        _PATIENT,
        _SUBJECT,
        _STATUS,
        _p("class", "token", "class"),
        _p("date", "date", "period"),
        _p("participant", "reference", "participant.individual", target="Practitioner"),
    ),
    "Observation": _index(
        _IDENTIFIER,
        _PATIENT,
        _SUBJECT,
        _ENCOUNTER,
        _STATUS,
        _p("category", "token", "category"),
        _p("code", "token", "code"),
        _p("date", "date", "effectiveDateTime", "effectivePeriod", "effectiveInstant"),
    ),
    "DiagnosticReport": _index(
        _IDENTIFIER,
        _PATIENT,
        _SUBJECT,
        _ENCOUNTER,
        _STATUS,
        _p("category", "token", "category"),
        _p("code", "token", "code"),
        _p("date", "date", "effectiveDateTime", "effectivePeriod"),
        _p("result", "reference", "result", target="Observation"),
        _p("imaging-study", "reference", "imagingStudy", target="ImagingStudy"),
    ),
    "ImagingStudy": _index(
        _IDENTIFIER,
        _PATIENT,
        _SUBJECT,
        _ENCOUNTER,
        _STATUS,
        _p("modality", "token", "modality", "series.modality"),
        _p("started", "date", "started"),
        _p("endpoint", "reference", "endpoint", "series.endpoint", target="Endpoint"),
    ),
    "Practitioner": _index(_IDENTIFIER, _NAME, _FAMILY, _GIVEN),
    "Endpoint": _index(_IDENTIFIER, _STATUS, _p("name", "string", "name")),
}

# Resource types whose instances belong to a patient's compartment, and the parameter naming
# that patient (FHIR R4 CompartmentDefinition "patient", restricted to the types we serve).
PATIENT_COMPARTMENT = {
    "Patient": "_id",
    "Encounter": "patient",
    "Observation": "patient",
    "DiagnosticReport": "patient",
    "ImagingStudy": "patient",
}

# Every type the FHIR R4 CompartmentDefinition "patient" places in a patient's compartment. One
# of these without an entry above cannot be confined to a patient here, so patient-confined
# access to it is refused (fail closed) rather than treated as a type all patients share.
R4_PATIENT_COMPARTMENT_TYPES = frozenset(
    """Account AdverseEvent AllergyIntolerance Appointment AppointmentResponse AuditEvent Basic
    BodyStructure CarePlan CareTeam ChargeItem Claim ClaimResponse ClinicalImpression Communication
    CommunicationRequest Composition Condition Consent Coverage CoverageEligibilityRequest
    CoverageEligibilityResponse DetectedIssue DeviceRequest DeviceUseStatement DiagnosticReport
    DocumentManifest DocumentReference Encounter EnrollmentRequest EpisodeOfCare ExplanationOfBenefit
    FamilyMemberHistory Flag Goal Group ImagingStudy Immunization ImmunizationEvaluation
    ImmunizationRecommendation Invoice List MeasureReport Media MedicationAdministration
    MedicationDispense MedicationRequest MedicationStatement MolecularSequence NutritionOrder
    Observation Patient Person Procedure Provenance QuestionnaireResponse RelatedPerson RequestGroup
    ResearchSubject RiskAssessment Schedule ServiceRequest Specimen SupplyDelivery SupplyRequest
    VisionPrescription""".split()
)


def parameters_for(resource_type: str) -> dict[str, SearchParameter]:
    return SEARCH_PARAMETERS.get(resource_type, {})


def compartment_of(resource_type: str, resource: dict) -> str:
    """The id of the Patient whose compartment ``resource`` is in; "" when none."""
    param = PATIENT_COMPARTMENT.get(resource_type)
    if param is None:
        return ""
    if param == "_id":
        return str(resource.get("id", ""))
    for value in SEARCH_PARAMETERS[resource_type][param].extract(resource):
        return value.value.split("/", 1)[1]
    return ""


def index_values(resource_type: str, resource: dict) -> list[tuple[str, IndexValue]]:
    return [
        (name, value)
        for name, param in parameters_for(resource_type).items()
        for value in param.extract(resource)
    ]
