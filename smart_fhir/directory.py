"""smart_fhir's implementation of smart_auth's patient port (``SMART_AUTH["PATIENT_DIRECTORY"]``).

The dependency runs one way: smart_fhir implements smart_auth's ``PatientDirectory`` protocol
over its storage; smart_auth never imports smart_fhir.
"""

from smart_auth.directory import identifier_token

from .search import SearchError
from .storage import StorageError, get_storage


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

    def search(self, terms, offset, limit):
        """The picker's search (smart_auth.picker): one indexed page, no COUNT, ordered by id
        (an order the (type, id) index serves: sorting 100,000 names per page is not)."""
        from smart_auth.picker import PickerSearchError

        params = {"_count": [str(limit)], "_offset": [str(offset)], "_total": ["none"], "_sort": ["_id"]}
        params.update({name: [value] for name, value in terms.items() if name in PICKER_TERMS})
        try:
            return get_storage().search("Patient", params).resources
        except (SearchError, StorageError) as exc:
            raise PickerSearchError(str(exc)) from exc


# The picker's fields are Patient search parameters of the same names.
PICKER_TERMS = ("name", "birthdate", "identifier")
