"""The hub as deployed: uvicorn worker processes sharing Redis (channels_redis) and a database.

Skipped when Redis at 127.0.0.1:6379 (or redis-server, for the restart test) is unavailable."""

import asyncio
import json
import shutil
import uuid
from datetime import UTC, datetime

import httpx
import pytest
import websockets

from .live import LiveHub, RedisServer, reachable


pytestmark = [
    pytest.mark.live,
    pytest.mark.asyncio,
    pytest.mark.skipif(not reachable("127.0.0.1", 6379), reason="Redis is not reachable at 127.0.0.1:6379"),
]
WAIT = 10


@pytest.fixture
def cluster(tmp_path):
    hub = LiveHub(tmp_path, "redis://127.0.0.1:6379/0")
    seeded = hub.seed(topics=2)
    urls = {name: hub.start(name) for name in ("a", "b")}
    yield hub, urls, seeded
    hub.stop()


def event(topic, name, pid, event_id=None):
    return {
        "timestamp": datetime.now(UTC).isoformat(),
        "id": event_id or uuid.uuid4().hex,
        "event": {
            "hub.topic": topic,
            "hub.event": name,
            "context": [{"key": "patient", "resource": {"resourceType": "Patient", "id": pid}}],
        },
    }


async def subscribe(http, base, topic, events="Patient-open,Patient-close,SyncError", endpoint_base=None):
    """Subscribe through ``base``; connect to the endpoint on ``endpoint_base`` (another process)."""
    response = await http.post(
        f"{base}/hub",
        data={
            "hub.mode": "subscribe",
            "hub.channel.type": "websocket",
            "hub.topic": topic,
            "hub.events": events,
        },
    )
    assert response.status_code == 202, response.text
    endpoint = response.json()["hub.channel.endpoint"]
    if endpoint_base:
        endpoint = endpoint_base.replace("http://", "ws://") + "/hub/ws/" + endpoint.rsplit("/", 1)[1]
    ws = await websockets.connect(endpoint, open_timeout=WAIT)
    confirmation = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    assert confirmation["hub.mode"] == "subscribe"
    return ws, endpoint


async def frames(ws, count):
    result = []
    for _ in range(count):
        frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        if "id" in frame and "event" in frame:
            await ws.send(json.dumps({"id": frame["id"], "status": 200}))
        result.append(frame)
    return result


async def test_events_cross_processes_in_per_topic_order(cluster):
    """Scale-out: a subscriber on one process receives events published through the other, and
    per-topic order holds although publishes alternate between processes (FHIRcast 2-5 ordering)."""
    hub, urls, seeded = cluster
    topic = seeded["topics"][0]
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {seeded['token']}"}, timeout=WAIT
    ) as http:
        on_a, _ = await subscribe(http, urls["a"], topic, endpoint_base=urls["a"])
        on_b, _ = await subscribe(
            http, urls["a"], topic, endpoint_base=urls["b"]
        )  # subscribed via a, bound on b
        other_topic, _ = await subscribe(http, urls["b"], seeded["topics"][1], endpoint_base=urls["b"])
        ids = []
        for index in range(30):
            base = urls["a"] if index % 2 == 0 else urls["b"]
            body = event(topic, "Patient-open", f"p{index}", event_id=f"e{index:02d}")
            response = await http.post(f"{base}/hub", json=body)
            assert response.status_code == 202, response.text
            ids.append(body["id"])
        for ws in (on_a, on_b):
            assert [f["id"] for f in await frames(ws, 30)] == ids
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(other_topic.recv(), 0.5)
        for ws in (on_a, on_b, other_topic):
            await ws.close()


async def test_a_dead_worker_loses_only_its_own_sockets(cluster):
    """Fault: killing one process closes its sockets only; the other keeps delivering, and the
    dropped subscriber reconnects to its endpoint elsewhere and gets the current context again."""
    hub, urls, seeded = cluster
    topic = seeded["topics"][0]
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {seeded['token']}"}, timeout=WAIT
    ) as http:
        doomed, endpoint = await subscribe(http, urls["a"], topic, endpoint_base=urls["a"])
        survivor, _ = await subscribe(http, urls["b"], topic, endpoint_base=urls["b"])
        hub.kill("a")
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(doomed.recv(), WAIT)
        body = event(topic, "Patient-open", "after-crash")
        assert (await http.post(f"{urls['b']}/hub", json=body)).status_code == 202
        assert (await frames(survivor, 1))[0]["id"] == body["id"]
        moved = endpoint.replace(urls["a"].replace("http://", "ws://"), urls["b"].replace("http://", "ws://"))
        async with websockets.connect(moved, open_timeout=WAIT) as again:
            confirmation, replay = await frames(again, 2)
            assert confirmation["hub.mode"] == "subscribe"
            assert replay["id"] == body["id"]
        await survivor.close()


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server is not installed")
async def test_the_hub_recovers_when_redis_restarts(tmp_path):
    """Fault: while Redis is down publishing fails cleanly (503, nothing changed); after Redis
    returns the same processes deliver again, and subscribers that lost their socket reconnect
    and get the current context."""
    redis = RedisServer()
    redis.start()
    hub = LiveHub(tmp_path, redis.url)
    try:
        seeded = hub.seed(topics=1)
        urls = {name: hub.start(name) for name in ("a", "b")}
        topic = seeded["topics"][0]
        async with httpx.AsyncClient(
            headers={"Authorization": f"Bearer {seeded['token']}"}, timeout=WAIT
        ) as http:
            ws, endpoint = await subscribe(http, urls["a"], topic, endpoint_base=urls["a"])
            first = event(topic, "Patient-open", "before")
            assert (await http.post(f"{urls['b']}/hub", json=first)).status_code == 202
            assert (await frames(ws, 1))[0]["id"] == first["id"]
            redis.stop()
            during = await http.post(f"{urls['b']}/hub", json=event(topic, "Patient-open", "during"))
            assert during.status_code == 503
            redis.start()
            current = await http.get(f"{urls['b']}/hub/{topic}")
            assert (
                current.json()["context"][0]["resource"]["id"] == "before"
            )  # the refused change left no trace
            after = event(topic, "Patient-open", "after")
            assert (await http.post(f"{urls['b']}/hub", json=after)).status_code == 202
            # The socket either still delivers, or the hub closed it (1012, service restart) and
            # the client reconnects to its endpoint, as FHIRcast clients do, and gets the replay.
            received = None
            for _ in range(6):
                try:
                    frame = (await frames(ws, 1))[0]
                except (TimeoutError, websockets.ConnectionClosed):
                    ws = await websockets.connect(endpoint, open_timeout=WAIT)
                    continue
                if frame.get("id") == after["id"]:
                    received = frame
                    break
            assert received is not None
            await ws.close()
    finally:
        hub.stop()
        redis.stop()
