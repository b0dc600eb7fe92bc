"""The one port between this authorization server and a patient store.

smart_auth never imports a FHIR server. The patient picker, patient matching across servers
(launch-token, token exchange, dual launch) and the multi-server resolver ask the object named by
``SMART_AUTH["PATIENT_DIRECTORY"]``; smart_fhir ships one over its storage
(``smart_fhir.directory.StoragePatientDirectory``), a vendor can give its own. Unset, the
directory knows no patient: pickers are empty and nothing matches (fail closed).
"""

from typing import Protocol


class PatientDirectory(Protocol):
    def read(self, patient_id: str) -> dict | None:
        """The Patient resource with this id, or None."""

    def with_identifier(self, system: str, value: str) -> list[str]:
        """Ids of the patients carrying exactly this identifier (at most a few)."""

    def listing(self, limit: int) -> list[dict]:
        """Patient resources a picker may list (the hook ``PATIENT_CHOICES`` narrows them)."""

    # Optional: with it the standalone-launch picker searches and pages (smart_auth.picker).
    # def search(self, terms: dict, offset: int, limit: int) -> list[dict]:
    #     """Patients matching every term (``name`` prefix, ``birthdate`` YYYY[-MM[-DD]],
    #     ``identifier`` ``[system|]value``), in a stable order, ``limit`` from ``offset``; raise
    #     smart_auth.picker.PickerSearchError for a search it cannot run."""


class NoPatients:
    """The directory used when none is configured: it knows no patient."""

    def read(self, patient_id):
        return None

    def with_identifier(self, system, value):
        return []

    def listing(self, limit):
        return []


def patient_directory() -> PatientDirectory:
    from .conf import smart_auth_settings

    factory = smart_auth_settings.PATIENT_DIRECTORY
    return factory() if factory else NoPatients()


def escape_search_value(value: str) -> str:
    """FHIR R4 search §3.1.1.1 escaping: ``\\`` ``,`` ``|`` ``$`` stand for themselves."""
    return "".join("\\" + char if char in "\\,|$" else char for char in value)


def identifier_token(system: str, value: str) -> str:
    """A ``token`` search value ``system|value`` with both parts escaped."""
    return f"{escape_search_value(system)}|{escape_search_value(value)}"


def patient_name(resource: dict) -> str:
    """How pickers and consent screens name a patient (name and birth date when known)."""
    for name in resource.get("name", []):
        text = name.get("text") or " ".join([*name.get("given", []), name.get("family", "")]).strip()
        if text:
            birth = resource.get("birthDate")
            return f"{text} ({birth})" if birth else text
    return f"Patient {resource.get('id')}"
