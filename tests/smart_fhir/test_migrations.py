"""Migration 0002 fills the new columns for data stored before it."""

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


BEFORE = [("smart_fhir", "0001_initial")]
AFTER = [("smart_fhir", "0002_versions_compartment_exact_strings")]


@pytest.mark.django_db(transaction=True)
def test_0002_backfills_exact_strings_and_version_compartments():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    stored, versions = (
        old.get_model("smart_fhir", "StoredResource"),
        old.get_model("smart_fhir", "ResourceVersion"),
    )
    values = old.get_model("smart_fhir", "SearchValue")
    patient = {"resourceType": "Patient", "id": "m-1", "name": [{"family": "McDonald"}]}
    observation = {"resourceType": "Observation", "id": "o-1", "subject": {"reference": "Patient/m-1"}}
    now = "2024-01-01T00:00:00Z"
    row = stored.objects.create(
        resource_type="Patient",
        logical_id="m-1",
        last_updated=now,
        compartment="m-1",
        text=json.dumps(patient),
    )
    values.objects.create(resource=row, resource_type="Patient", param="family", value="mcdonald")
    stored.objects.create(
        resource_type="Observation", logical_id="o-1", last_updated=now, deleted=True, compartment="m-1"
    )
    versions.objects.create(
        resource_type="Observation",
        logical_id="o-1",
        version_id=1,
        last_updated=now,
        text=json.dumps(observation),
    )
    versions.objects.create(
        resource_type="Observation", logical_id="o-1", version_id=2, last_updated=now, deleted=True
    )
    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    family = new.get_model("smart_fhir", "SearchValue").objects.get(param="family")
    assert (family.value, family.exact) == ("mcdonald", "McDonald")
    compartments = new.get_model("smart_fhir", "ResourceVersion").objects.values_list(
        "version_id", "compartment"
    )
    assert sorted(compartments) == [(1, "m-1"), (2, "m-1")]
