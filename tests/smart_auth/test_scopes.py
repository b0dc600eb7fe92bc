"""The SMART scope grammar (SMART App Launch 2.2 "Scopes and Launch Context"), without a database."""

import pytest

from smart_auth import scopes as s


@pytest.mark.parametrize(
    ("raw", "context", "rtype", "perms", "version"),
    [
        ("patient/Observation.rs", "patient", "Observation", "rs", 2),
        ("user/*.cruds", "user", "*", "cruds", 2),
        ("system/Patient.read", "system", "Patient", "rs", 1),
        ("patient/*.write", "patient", "*", "cud", 1),
        ("user/Encounter.*", "user", "Encounter", "cruds", 1),
        ("patient/Condition.c", "patient", "Condition", "c", 2),
    ],
)
def test_resource_scopes_parse_and_map_v1_to_v2(raw, context, rtype, perms, version):
    scope = s.parse_scope(raw)
    assert (scope.context, scope.resource_type, scope.permissions, scope.version) == (
        context,
        rtype,
        perms,
        version,
    )


@pytest.mark.parametrize(
    "raw",
    [
        "patient/Observation.sr",
        "patient/Observation.rr",
        "patient/Observation.x",
        "practitioner/*.rs",
        "patient/observation.rs",
        "patient/*.read?category=x",
        "patient/Observation.rs?",
        "openid ",
        "",
        "launch/",
    ],
)
def test_malformed_scopes_are_refused(raw):
    """SMART 2.2: `.cruds` letters are an ordered subset; v1 has no query constraints."""
    with pytest.raises(s.ScopeError):
        s.parse_scope(raw)


def test_granular_scope_keeps_its_constraint():
    scope = s.parse_scope(
        "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
    )
    assert scope.query == (
        ("category", "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"),
    )
    assert "laboratory" in scope.describe()


def test_covers_allows_narrowing_only():
    broad = s.parse_scope("patient/*.cruds")
    assert broad.covers(s.parse_scope("patient/Observation.rs"))
    assert broad.covers(s.parse_scope("patient/Observation.rs?category=x|y"))
    assert not s.parse_scope("patient/Observation.rs").covers(s.parse_scope("patient/*.rs"))
    assert not s.parse_scope("patient/Observation.r").covers(s.parse_scope("patient/Observation.rs"))
    assert not s.parse_scope("patient/Observation.rs?category=a|b").covers(
        s.parse_scope("patient/Observation.rs")
    )
    assert not broad.covers(s.parse_scope("user/Observation.rs"))


def test_permitted_by_registration():
    allowed = s.parse_scopes("patient/*.rs openid fhircast/Patient-open.write launch")
    assert s.is_permitted(s.parse_scope("patient/Observation.r"), allowed)
    assert not s.is_permitted(s.parse_scope("patient/Observation.c"), allowed)
    assert not s.is_permitted(s.parse_scope("user/Observation.r"), allowed)
    assert not s.is_permitted(s.parse_scope("offline_access"), allowed)
    assert s.is_permitted(s.parse_scope("fhircast/Patient-open.write"), allowed)
    assert not s.is_permitted(s.parse_scope("fhircast/Patient-close.write"), allowed)


def test_category_subscopes_offered_for_resource_level_scopes():
    subs = s.category_subscopes(s.parse_scope("patient/Observation.rs"))
    assert (
        "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
        in [x.raw for x in subs]
    )
    assert all(s.parse_scope("patient/Observation.rs").covers(x) for x in subs)
    assert s.category_subscopes(s.parse_scope("patient/Patient.rs")) == []


def test_fhircast_scopes():
    scope = s.parse_scope("fhircast/ImagingStudy-open.read")
    assert scope.allows("ImagingStudy-open", "read")
    assert not scope.allows("Patient-open", "read")
    assert s.parse_scope("fhircast/*.write").allows("DiagnosticReport-update", "write")
    assert not s.parse_scope("fhircast/*.read").allows("Patient-open", "write")


def test_every_simple_scope_has_plain_words():
    for raw in s.SIMPLE_SCOPES:
        assert s.describe(raw) != raw
    assert s.describe("patient/Observation.rs") == "Read and search Observations of the selected patient"
