"""IHE IRA suspend/resume and DiagnosticReport-select across two hub worker processes sharing
Redis (channels_redis) and a database: the report contexts live in the database, so a report
suspended through one worker resumes, with its content and versionId, through the other.

Redis db 3 (REDIS_URL may name another); skipped when Redis is not reachable."""

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime

import httpx
import pytest
import websockets

from .live import LiveHub, reachable


REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3")
pytestmark = [
    pytest.mark.live,
    pytest.mark.asyncio,
    pytest.mark.skipif(not reachable("127.0.0.1", 6379), reason="Redis is not reachable at 127.0.0.1:6379"),
]
WAIT = 10
EVENTS = "DiagnosticReport-open,DiagnosticReport-close,DiagnosticReport-update,DiagnosticReport-select"


@pytest.fixture
def cluster(tmp_path):
    hub = LiveHub(tmp_path, REDIS_URL)
    seeded = hub.seed(topics=1)
    urls = {name: hub.start(name) for name in ("a", "b")}
    yield urls, seeded
    hub.stop()


def _event(topic, name, context, **fields):
    return {
        "timestamp": datetime.now(UTC).isoformat(),
        "id": uuid.uuid4().hex,
        "event": {"hub.topic": topic, "hub.event": name, "context": context, **fields},
    }


def _report(rid):
    return [
        {"key": "report", "resource": {"resourceType": "DiagnosticReport", "id": rid}},
        {"key": "patient", "resource": {"resourceType": "Patient", "id": "pat-1"}},
    ]


def _update(rid, oid):
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
    return [
        {"key": "report", "reference": {"reference": f"DiagnosticReport/{rid}"}},
        {"key": "updates", "resource": bundle},
    ]


async def _next_event(ws):
    """The next event frame (acknowledged, as a subscriber does)."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        if "event" in frame and "id" in frame:
            await ws.send(json.dumps({"id": frame["id"], "status": 200}))
            return frame


async def test_suspend_and_resume_across_two_workers(cluster):
    """IHE IRA RAD-148/149 with FHIRcast 2-10 content sharing, alternating workers: open R1
    (worker a), update R1 (b), open R2 (a: R1 suspended), close R2 (b), re-open R1 (a): R1's
    content and versionId are restored and broadcast to a subscriber bound to worker b."""
    urls, seeded = cluster
    topic = seeded["topics"][0]
    post = {"a": f"{urls['a']}/hub", "b": f"{urls['b']}/hub"}
    headers = {"Authorization": f"Bearer {seeded['token']}"}
    async with httpx.AsyncClient(headers=headers, timeout=WAIT) as http:
        fields = {"hub.mode": "subscribe", "hub.channel.type": "websocket", "hub.events": EVENTS}
        response = await http.post(post["a"], data={**fields, "hub.topic": topic})
        assert response.status_code == 202, response.text
        endpoint = response.json()["hub.channel.endpoint"].rsplit("/", 1)[1]
        on_b = urls["b"].replace("http://", "ws://")
        ws = await websockets.connect(f"{on_b}/hub/ws/{endpoint}", open_timeout=WAIT)
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT))["hub.mode"] == "subscribe"

        async def publish(worker, name, context, **fields):
            answer = await http.post(post[worker], json=_event(topic, name, context, **fields))
            assert answer.status_code == 202, answer.text
            return (await _next_event(ws))["event"]

        opened = await publish("a", "DiagnosticReport-open", _report("R1"))
        version = {"context.versionId": opened["context.versionId"]}
        updated = await publish("b", "DiagnosticReport-update", _update("R1", "o1"), **version)
        v1 = updated["context.versionId"]
        await publish("a", "DiagnosticReport-open", _report("R2"))
        await publish("b", "DiagnosticReport-close", _report("R2"))
        current = (await http.get(f"{urls['a']}/hub/{topic}")).json()
        assert current["context.versionId"] == v1  # R1, suspended then current again (RAD-149)
        resumed = await publish("a", "DiagnosticReport-open", _report("R1"))
        assert resumed["context.versionId"] == v1
        current = (await http.get(f"{urls['b']}/hub/{topic}")).json()
        content = [c["resource"] for c in current["context"] if c["key"] == "content"][0]
        assert [e["resource"]["id"] for e in content["entry"]] == ["o1"]

        # Select, repeated key with one reference each, through the other worker: every
        # reference reaches the subscriber; a select without `select` is refused, not sent.
        items = [{"key": "select", "reference": {"reference": f"Observation/o{i}"}} for i in (1, 2)]
        selected = await publish("b", "DiagnosticReport-select", _report("R1")[:1] + items)
        assert [c["reference"]["reference"] for c in selected["context"] if c["key"] == "select"] == [
            "Observation/o1",
            "Observation/o2",
        ]
        refused = _event(topic, "DiagnosticReport-select", _report("R1")[:1])
        assert (await http.post(post["a"], json=refused)).status_code == 400
        # Not broadcast: the next event the subscriber gets is the one published after it.
        clear = _report("R1")[:1] + [{"key": "select", "reference": []}]
        cleared = await publish("b", "DiagnosticReport-select", clear)
        assert [c["reference"] for c in cleared["context"] if c["key"] == "select"] == [[]]
        await ws.close()
