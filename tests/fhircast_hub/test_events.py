"""The event catalog and the context state machine, without a database."""

import pytest

from fhircast_hub import context as ctx
from fhircast_hub.events import EventError, parse_event_list, validate_notification

from .conftest import notification, patient, report, study


def valid(name, context, **fields):
    return validate_notification(notification("t", name, context, **fields))


def test_event_names_are_case_insensitive_and_spelled_as_the_catalog():
    """FHIRcast 2-3: Hubs SHALL treat event names case-insensitively."""
    assert valid("patient-open", [patient()])["event"]["hub.event"] == "Patient-open"
    assert valid("syncerror", [{"key": "operationoutcome", "resource": {"resourceType": "OperationOutcome"}}])


@pytest.mark.parametrize(
    ("name", "context"),
    [
        ("Patient-open", [patient()]),
        ("Patient-close", [patient()]),
        (
            "Encounter-open",
            [{"key": "encounter", "resource": {"resourceType": "Encounter", "id": "e"}}, patient()],
        ),
        ("ImagingStudy-open", [study()]),
        ("ImagingStudy-close", [study(), patient()]),
        ("DiagnosticReport-open", [report(), patient(), study(), study("st-2")]),
        (
            "DiagnosticReport-select",
            [report(), {"key": "select", "reference": [{"reference": "Observation/o"}]}],
        ),
        ("UserLogout", []),
        ("hibernate", [{"key": "parameters", "resource": {"resourceType": "Parameters"}}]),
        ("Home-open", []),
        ("org.example.custom", [{"key": "anything", "resource": {}}]),
    ],
)
def test_catalog_events_with_their_required_context_are_accepted(name, context):
    assert valid(name, context)


@pytest.mark.parametrize(
    ("name", "context", "message"),
    [
        ("Patient-open", [], "requires context key 'patient'"),
        ("Patient-open", [patient(), patient("p2")], "at most 1"),
        (
            "Patient-open",
            [{"key": "patient", "resource": {"resourceType": "Encounter", "id": "x"}}],
            "Patient",
        ),
        (
            "Encounter-open",
            [{"key": "encounter", "resource": {"resourceType": "Encounter", "id": "e"}}],
            "'patient'",
        ),
        ("DiagnosticReport-open", [report()], "'patient'"),
        ("SyncError", [patient()], "'operationoutcome'"),
        ("Patient-jump", [patient()], "Unknown event"),
        ("DiagnosticReport-select", [report(), {"key": "select", "reference": "Observation/1"}], "array"),
    ],
)
def test_events_that_break_their_context_rules_are_refused(name, context, message):
    """FHIRcast 2-3 / 3-x event pages: required keys and resource types."""
    with pytest.raises(EventError, match=message):
        valid(name, context)


@pytest.mark.parametrize("missing", ["id", "timestamp", "event"])
def test_missing_envelope_fields_are_refused(missing):
    """FHIRcast 2-6: timestamp, id and event are required."""
    body = notification("t", "Patient-open", [patient()])
    del body[missing]
    with pytest.raises(EventError, match=missing):
        validate_notification(body)


def test_hub_events_is_a_set_without_wildcards():
    """FHIRcast 2-4: duplicates count once; wildcards are not supported with a Hub."""
    assert parse_event_list("Patient-open, patient-open,Patient-close") == ["Patient-open", "Patient-close"]
    with pytest.raises(EventError):
        parse_event_list("*")
    with pytest.raises(EventError):
        parse_event_list(" , ")


def update(version, entries, rid="rep-1"):
    bundle = {"resourceType": "Bundle", "id": "b1", "type": "transaction", "entry": entries}
    return valid(
        "DiagnosticReport-update",
        [
            {"key": "report", "reference": {"reference": f"DiagnosticReport/{rid}"}},
            {"key": "updates", "resource": bundle},
        ],
        **{"context.versionId": version},
    )


def put(oid):
    return {
        "request": {"method": "PUT", "url": f"Observation/{oid}"},
        "resource": {"resourceType": "Observation", "id": oid},
    }


def opened_report():
    state, sent = ctx.apply(ctx.empty_state(), valid("DiagnosticReport-open", [report(), patient()]))
    return state, sent["event"]["context.versionId"]


def test_an_update_with_the_current_version_moves_the_version_chain():
    """FHIRcast 2-10: new versionId, priorVersionId = the old one, same Bundle id."""
    state, version = opened_report()
    state, sent = ctx.apply(state, update(version, [put("o1")]))
    assert sent["event"]["context.priorVersionId"] == version
    assert sent["event"]["context.versionId"] not in (None, version)
    current = ctx.current_context(state)
    content = [c for c in current["context"] if c["key"] == "content"][0]["resource"]
    assert [e["resource"]["id"] for e in content["entry"]] == ["o1"]
    assert all("request" not in e for e in content["entry"])


def test_a_stale_update_is_refused_and_changes_nothing():
    """FHIRcast 2-10: the Hub SHALL reject an update whose versionId is not current."""
    state, version = opened_report()
    state, _ = ctx.apply(state, update(version, [put("o1")]))
    with pytest.raises(ctx.ContextConflict):
        ctx.apply(state, update(version, [put("o2")]))
    assert ctx.current_context(state)["context.versionId"] != version


def test_an_update_is_all_or_nothing():
    """FHIRcast 2-10: reject the whole request on any problem (no partial application)."""
    state, version = opened_report()
    with pytest.raises(EventError):
        ctx.apply(
            state, update(version, [put("o1"), {"request": {"method": "DELETE"}, "fullUrl": "Patient/pat-1"}])
        )
    with pytest.raises(EventError):
        update(version, [put("o1"), {"request": {"method": "POST", "url": "Observation"}}])
    assert ctx.current_context(state)["context.versionId"] == version


@pytest.mark.parametrize("verb", ["update", "select", "close"])
def test_changes_to_a_context_that_is_not_open_conflict(verb):
    """IHE IRA RAD-148/150/151: update, select or close of an unopened report → 409."""
    state, version = opened_report()
    if verb == "update":
        message = update(version, [put("o1")], rid="other")
    elif verb == "select":
        message = valid("DiagnosticReport-select", [report("other"), {"key": "select", "reference": []}])
    else:
        message = valid("DiagnosticReport-close", [report("other"), patient()])
    with pytest.raises(ctx.ContextConflict):
        ctx.apply(state, message)


def test_closing_the_current_context_empties_get_current_context_and_replay_keeps_other_anchors():
    """FHIRcast 2-9 / 2-4: after a close the current context is empty; replay is per anchor type."""
    state, _ = ctx.apply(ctx.empty_state(), valid("Patient-open", [patient()]))
    state, _ = ctx.apply(state, valid("ImagingStudy-open", [study(), patient()]))
    assert [n["event"]["hub.event"] for n in ctx.replay(state)] == ["Patient-open", "ImagingStudy-open"]
    state, _ = ctx.apply(state, valid("ImagingStudy-close", [study(), patient()]))
    assert ctx.current_context(state)["context.type"] == "Patient"
    state, _ = ctx.apply(state, valid("Patient-close", [patient()]))
    assert ctx.current_context(state) == {"context.type": "", "context.versionId": "", "context": []}
