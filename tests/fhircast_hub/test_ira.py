"""FHIRcast 3.0 select validation and IHE IRA report contexts (suspend/resume), over HTTP and
WebSockets in one process (test_live_ira.py repeats suspend/resume across two workers)."""

import pytest

from fhircast_hub.models import Topic

from .conftest import call, patient, report, subscribed


def ref(reference):
    return {"reference": reference}


def select(*items):
    return [report(), *items]


def _selection(topic):
    return Topic.objects.get(name=topic).state["contexts"][-1].get("selection")


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (select(), b"'select'"),  # select is 1..*
        (select({"key": "select", "reference": [{"reference": 7}]}), b"'select'"),
        (select({"key": "select", "reference": ["Observation/o1"]}), b"'select'"),
    ],
)
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_select_without_a_valid_select_key_is_400_and_never_broadcast(hub, topic, context, message):
    """FHIRcast 3.0 DiagnosticReport-select: `select` 1..*, an array of references."""
    await call(hub.publish, topic, "DiagnosticReport-open", [report(), patient()])
    socket, _, _ = await subscribed(hub, topic, "DiagnosticReport-select")
    before = await call(lambda: Topic.objects.get(name=topic).state)
    response = await call(hub.publish, topic, "DiagnosticReport-select", context)
    assert response.status_code == 400 and message in response.content, response.content
    assert await call(lambda: Topic.objects.get(name=topic).state) == before
    # Not broadcast: the next event the subscriber gets is the one published after it.
    clear = select({"key": "select", "reference": []})
    sentinel = await call(hub.publish, topic, "DiagnosticReport-select", clear)
    assert (await socket.frame())["id"] == sentinel.json()["event"]["id"]
    await socket.close()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_select_key_repeated_with_one_reference_each_keeps_them_all(hub, topic):
    """As FHIRcast client libraries send it: every selected reference is kept and forwarded."""
    await call(hub.publish, topic, "DiagnosticReport-open", [report(), patient()])
    socket, _, _ = await subscribed(hub, topic, "DiagnosticReport-select")
    items = [{"key": "select", "reference": ref(f"Observation/o{i}")} for i in (1, 2, 3)]
    response = await call(hub.publish, topic, "DiagnosticReport-select", select(*items))
    assert response.status_code == 202, response.content
    sent = await socket.frame()
    assert [c["reference"] for c in sent["event"]["context"] if c["key"] == "select"] == [
        ref(f"Observation/o{i}") for i in (1, 2, 3)
    ]
    assert await call(_selection, topic) == [ref(f"Observation/o{i}") for i in (1, 2, 3)]
    # One key with an array works as well, and an empty array clears the selection (2-10).
    refs = [ref("Observation/o1"), ref("ImagingStudy/st-1")]
    await call(hub.publish, topic, "DiagnosticReport-select", select({"key": "select", "reference": refs}))
    assert await call(_selection, topic) == refs
    await call(hub.publish, topic, "DiagnosticReport-select", select({"key": "select", "reference": []}))
    assert await call(_selection, topic) == []
    await socket.close()


def _update(hub, topic, version, oid, rid="rep-1"):
    bundle = {
        "resourceType": "Bundle",
        "id": f"b-{oid}",
        "type": "transaction",
        "entry": [
            {
                "request": {"method": "PUT", "url": f"Observation/{oid}"},
                "resource": {"resourceType": "Observation", "id": oid},
            }
        ],
    }
    context = [
        {"key": "report", "reference": ref(f"DiagnosticReport/{rid}")},
        {"key": "updates", "resource": bundle},
    ]
    response = hub.publish(topic, "DiagnosticReport-update", context, **{"context.versionId": version})
    assert response.status_code == 202, response.content
    return response.json()["event"]["event"]["context.versionId"]


def _content_ids(current):
    content = [c for c in current["context"] if c["key"] == "content"]
    return [e["resource"]["id"] for e in content[0]["resource"]["entry"]] if content else None


def test_suspend_and_resume_restore_content_and_version(hub, topic):
    """IHE IRA RAD-148: open R1, open R2 (R1 suspended), close R2, re-open R1: R1's content and
    versionId are restored. RAD-149: after a close the current context is the newest context
    opened and not closed, never a closed one."""
    opened = hub.publish(topic, "DiagnosticReport-open", [report("R1"), patient()]).json()
    v1 = _update(hub, topic, opened["event"]["event"]["context.versionId"], "o1", rid="R1")
    second = hub.publish(topic, "DiagnosticReport-open", [report("R2"), patient()]).json()
    _update(hub, topic, second["event"]["event"]["context.versionId"], "o2", rid="R2")
    assert hub.current(topic).json()["context"][0]["resource"]["id"] == "R2"
    assert hub.publish(topic, "DiagnosticReport-close", [report("R2"), patient()]).status_code == 202
    after_close = hub.current(topic).json()
    assert after_close["context.type"] == "DiagnosticReport"
    assert after_close["context"][0]["resource"]["id"] == "R1"  # suspended, not closed
    resumed = hub.publish(topic, "DiagnosticReport-open", [report("R1"), patient()]).json()
    assert resumed["event"]["event"]["context.versionId"] == v1
    current = hub.current(topic).json()
    assert current["context.versionId"] == v1 and _content_ids(current) == ["o1"]
    # An update with the restored version is accepted: the version chain continues.
    _update(hub, topic, v1, "o3", rid="R1")
    assert _content_ids(hub.current(topic).json()) == ["o1", "o3"]
    # R2 was closed: it is gone, with its content; re-opening it starts afresh.
    assert hub.publish(topic, "DiagnosticReport-close", [report("R1"), patient()]).status_code == 202
    assert hub.current(topic).json() == {"context.type": "", "context.versionId": "", "context": []}
    fresh = hub.publish(topic, "DiagnosticReport-open", [report("R2"), patient()]).json()
    assert _content_ids(hub.current(topic).json()) == []
    old_versions = (second["event"]["event"]["context.versionId"], v1)
    assert fresh["event"]["event"]["context.versionId"] not in old_versions
    # Closing a suspended report leaves the current one current; a closed one cannot be closed.
    hub.publish(topic, "DiagnosticReport-open", [report("R3"), patient()])
    assert hub.publish(topic, "DiagnosticReport-close", [report("R2"), patient()]).status_code == 202
    assert hub.current(topic).json()["context"][0]["resource"]["id"] == "R3"
    assert hub.publish(topic, "DiagnosticReport-close", [report("R2"), patient()]).status_code == 409
