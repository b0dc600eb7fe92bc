"""A vendor-style storage backend that holds Patients only (for check smart_fhir.E011)."""

from smart_fhir.storage import StorageBackend


class PatientsOnly(StorageBackend):
    resource_types = frozenset({"Patient"})

    def read_entry(self, resource_type, resource_id):
        return None
