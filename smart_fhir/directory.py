"""smart_fhir's implementation of smart_auth's patient port (``SMART_AUTH["PATIENT_DIRECTORY"]``).

The dependency runs one way: smart_fhir implements smart_auth's ``PatientDirectory`` protocol
over its storage; smart_auth never imports smart_fhir.
"""

from smart_auth.directory import identifier_token

from .search import SearchError
from .storage import get_storage


class StoragePatientDirectory:
    def read(self, patient_id):
        return get_storage().read("Patient", patient_id) if patient_id else None

    def with_identifier(self, system, value):
        params = {"identifier": [identifier_token(system, value)], "_count": ["3"]}
        try:
            found = get_storage().search("Patient", params).resources
        except SearchError:
            return []
        return [resource["id"] for resource in found]

    def listing(self, limit):
        return get_storage().search("Patient", {"_count": [str(limit)], "_sort": ["family"]}).resources
