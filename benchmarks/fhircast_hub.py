"""FHIRcast hub benchmark: two uvicorn workers on Redis, next to a minimal Channels relay.

    .venv/bin/python benchmarks/fhircast_hub.py [--seconds 15] [--rate 50] [--warmup 3] [--slowest 10]

Workload (per server): 500 subscribers over 100 topics (5 each, spread over both workers),
50 publishes/s for 15 s alternating between the workers; every subscriber acknowledges.
Before the measured window, both servers get the same untimed warm-up (``--warmup`` seconds at
the same rate over every topic from both workers, plus bursts of concurrent publishes so that
every WSGI bridge thread of every worker runs); the load generator waits for the warm-up's frames
and acknowledgements, and none of them counts as delivered or lost.
Reports delivered/expected, latency percentiles (from the publish being accepted — the HTTP
202 — to the frame being received, and from the request being sent) and the RSS growth of the
workers per idle socket with 1,000 sockets open. All traffic stays on 127.0.0.1; every loop is
bounded in count and time.
"""

import argparse
import asyncio
import gc
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import websockets


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fhircast_hub.live import LiveHub, reachable  # noqa: E402


REDIS = "redis://127.0.0.1:6379/0"
# One database per run: two runs at once (other worktrees, other engineers) must not drop each
# other's database in the middle of a run.
BENCH_DB = f"fhircast_bench_{os.getpid()}"
TOPICS, PER_TOPIC, IDLE_SOCKETS = 100, 5, 1000
WAIT = 20
from fhircast_hub.wsgi_bridge import DEFAULT_THREADS  # noqa: E402


# Threads per worker of the sandbox's WSGI bridge (sandbox_project/asgi.py); a warm-up burst sends
# this many concurrent publishes to each worker, each on its own topic, so that every thread runs.
BRIDGE_THREADS = int(os.environ.get("SANDBOX_WSGI_THREADS") or DEFAULT_THREADS)
WARMUP_BURSTS = 3


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def notification(topic, index, tag="bench"):
    return {
        "timestamp": datetime.now(UTC).isoformat(),
        "id": f"{tag}-{index}-{uuid.uuid4().hex[:8]}",
        "event": {
            "hub.topic": topic,
            "hub.event": "Patient-open",
            "context": [{"key": "patient", "resource": {"resourceType": "Patient", "id": f"p{index}"}}],
        },
    }


class Target:
    """How the load generator talks to one server: the hub or the relay."""

    def __init__(self, kind, bases, token=None, topics=()):
        self.kind, self.bases, self.token, self.topics = kind, bases, token, list(topics)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = [httpx.AsyncClient(base_url=b, headers=headers, timeout=WAIT) for b in bases]

    async def connect(self, topic, index):
        base = self.bases[index % len(self.bases)]
        if self.kind == "relay":
            return await websockets.connect(f"{base.replace('http', 'ws')}/relay/{topic}", open_timeout=WAIT)
        response = await self.http[index % 2].post(
            "/hub",
            data={
                "hub.mode": "subscribe",
                "hub.channel.type": "websocket",
                "hub.topic": topic,
                "hub.events": "Patient-open",
                "subscriber.name": f"bench-{index}",
            },
        )
        response.raise_for_status()
        endpoint = response.json()["hub.channel.endpoint"].rsplit("/", 1)[1]
        ws = await websockets.connect(f"{base.replace('http', 'ws')}/hub/ws/{endpoint}", open_timeout=WAIT)
        json.loads(await asyncio.wait_for(ws.recv(), WAIT))  # the confirmation
        return ws

    async def publish(self, topic, body, index):
        client = self.http[index % 2]
        if self.kind == "relay":
            response = await client.post(f"/publish/{topic}", content=json.dumps(body))
        else:
            response = await client.post("/hub", json=body)
        return response.status_code == 202

    async def close(self):
        for client in self.http:
            await client.aclose()


async def reader(ws, received, acks, acked):
    """Record each frame's arrival; acknowledge hub events as a FHIRcast subscriber must."""
    try:
        async for text in ws:
            now = time.perf_counter()
            frame = json.loads(text)
            event_id = frame.get("id")
            if event_id is None:
                continue
            received.setdefault(event_id, []).append(now)
            if acks:
                await ws.send(json.dumps({"id": event_id, "status": 200}))
                acked[event_id] = acked.get(event_id, 0) + 1
    except websockets.ConnectionClosed:
        pass


async def warm_up(target, topics, received, acked, seconds, rate):
    """Untimed publishes before the measured window, the same for the hub and the relay.

    ``seconds`` at ``rate`` over every topic, each topic from both workers in turn, plus
    WARMUP_BURSTS bursts of BRIDGE_THREADS concurrent publishes per worker (consecutive topics),
    so every bridge thread of every worker serves requests (its database connection, its first
    layer call on the server's loop) before anything is timed. Returns once every accepted
    warm-up event reached all its subscribers (and, on the hub, was acknowledged) or after WAIT s.
    """
    accepted, failures, tasks = set(), 0, []
    next_index = 0

    async def one(index):
        nonlocal failures
        topic = topics[index % TOPICS]
        body = notification(topic, index, tag="warmup")
        # index + index // TOPICS: the first round of topics goes to one worker, the next round
        # to the other (the measured loop always sends topic t to worker t % 2).
        if await target.publish(topic, body, index + index // TOPICS):
            accepted.add(body["id"])
        else:
            failures += 1

    def launch(count):
        nonlocal next_index
        for _ in range(count):
            tasks.append(asyncio.create_task(one(next_index)))
            next_index += 1

    total = max(1, int(seconds * rate))
    burst_every = max(1, total // WARMUP_BURSTS)
    started = time.perf_counter()
    for step in range(total):
        delay = started + step / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if step % burst_every == 0 and step // burst_every < WARMUP_BURSTS:
            launch(BRIDGE_THREADS * len(target.bases))
        launch(1)
    await asyncio.wait_for(asyncio.gather(*tasks), WAIT)
    deadline = time.perf_counter() + WAIT

    def settled():
        frames = sum(min(PER_TOPIC, len(received.get(i, ()))) for i in accepted)
        acks = sum(min(PER_TOPIC, acked.get(i, 0)) for i in accepted) if target.kind == "hub" else frames
        return frames, acks

    while min(settled()) < len(accepted) * PER_TOPIC and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    frames, acks = settled()
    await asyncio.sleep(0.5)  # let the servers take in the last acknowledgements
    return {
        "seconds": time.perf_counter() - started,
        "published": len(tasks),
        "accepted": len(accepted),
        "failed": failures,
        "frames": frames,
        "acks": acks,
        "expected": len(accepted) * PER_TOPIC,
        "ids": accepted,
    }


async def load(target, seconds, rate, warmup=0.0, pids=()):
    topics = target.topics[:TOPICS]
    sockets = []
    for index in range(TOPICS * PER_TOPIC):
        sockets.append(await target.connect(topics[index % TOPICS], index))
    received, acked = {}, {}
    readers = [asyncio.create_task(reader(ws, received, target.kind == "hub", acked)) for ws in sockets]
    warm = None
    if warmup > 0:
        warm = await warm_up(target, topics, received, acked, warmup, rate)
        warm["threads"] = [psutil.Process(pid).num_threads() for pid in pids]
    sent, accepted, failures, tasks = {}, {}, 0, []
    pauses, gc_started = [], {}

    def gc_pause(phase, info):  # the load generator's own collections stall every frame's timestamp
        if phase == "start":
            gc_started[0] = time.perf_counter()
        elif 0 in gc_started:
            begun = gc_started.pop(0)
            pauses.append((info["generation"], begun, (time.perf_counter() - begun) * 1000))

    gc.collect()
    gc.freeze()  # the sockets and the warm-up's records: out of the load generator's collections
    gc.callbacks.append(gc_pause)

    async def one(index):
        nonlocal failures
        topic = topics[index % TOPICS]
        body = notification(topic, index)
        sent[body["id"]] = time.perf_counter()
        if await target.publish(topic, body, index):
            accepted[body["id"]] = time.perf_counter()
        else:
            failures += 1

    total = int(seconds * rate)
    start = time.perf_counter()
    for index in range(total):  # open-loop schedule: one publish every 1/rate s
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index)))
    achieved = total / (time.perf_counter() - start + 1 / rate)
    await asyncio.wait_for(asyncio.gather(*tasks), WAIT)
    expected = len(accepted) * PER_TOPIC
    deadline = time.perf_counter() + 10
    # Only the measured window's events count (warm-up frames are neither delivered nor lost).
    while sum(len(received.get(i, ())) for i in accepted) < expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
    from_accept, from_send, frames = [], [], []
    for event_id, arrivals in received.items():
        if event_id in accepted:
            index = int(event_id.split("-")[1])
            for arrival in arrivals:
                from_accept.append(max(0.0, arrival - accepted[event_id]) * 1000)
                from_send.append((arrival - sent[event_id]) * 1000)
                frames.append((from_send[-1], index, (sent[event_id] - start) * 1000))
    gc.callbacks.remove(gc_pause)
    gc.unfreeze()
    for ws in sockets:
        await ws.close()
    for task in readers:
        task.cancel()
    return {
        "published": total,
        "accepted": len(accepted),
        "failed": failures,
        "delivered": len(from_send),
        "expected": expected,
        "accept": from_accept,
        "send": from_send,
        "achieved_rate": achieved,
        "missing": sorted(set(accepted) - {k for k, v in received.items() if len(v) >= PER_TOPIC}),
        "slowest": sorted(frames, reverse=True),
        "start": start,
        "gc": [(generation, (at - start) * 1000, ms) for generation, at, ms in pauses],
        "warmup": warm,
    }


async def idle_memory(target, pids):
    processes = [psutil.Process(pid) for pid in pids]
    before = sum(p.memory_info().rss for p in processes)
    sockets = []
    for index in range(IDLE_SOCKETS):
        sockets.append(await target.connect(target.topics[TOPICS + index % TOPICS], index))
    await asyncio.sleep(2)
    after = sum(p.memory_info().rss for p in processes)
    for ws in sockets:
        await ws.close()
    return (after - before) / IDLE_SOCKETS / 1024


def fresh_database():
    """A new PostgreSQL database, or None (SQLite) when the server refuses us."""
    import psycopg

    try:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {BENCH_DB}")
    except psycopg.OperationalError as error:
        print(f"PostgreSQL unavailable ({str(error).strip().splitlines()[-1]}); using SQLite")
        return None
    return f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"


def drop_database():
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def loaded_modules(pid):
    """Which event loop and HTTP parser a uvicorn worker actually loaded (its mapped .so files)."""
    paths = {m.path for m in psutil.Process(pid).memory_maps()}
    loop = "uvloop" if any("/uvloop/" in p for p in paths) else "asyncio"
    http = "httptools" if any("/httptools/" in p for p in paths) else "h11"
    return f"{loop}+{http}"


async def run_server(kind, workdir, seconds, rate, warmup):
    database = fresh_database() if kind == "hub" and reachable("127.0.0.1", 5432) else None
    app = "sandbox_project.asgi:application" if kind == "hub" else "fhircast_relay:application"
    cluster = LiveHub(workdir, REDIS, database_url=database, app=app)
    try:
        if kind == "hub":
            seeded = cluster.seed(topics=TOPICS * 2)
            token, topics = seeded["token"], seeded["topics"]
        else:
            token, topics = None, [uuid.uuid4().hex for _ in range(TOPICS * 2)]
        app_dir = ROOT / "benchmarks" if kind == "relay" else None
        bases = [cluster.start(name, app_dir=app_dir) for name in ("w1", "w2")]
        target = Target(kind, bases, token, topics)
        pids = [cluster.pid("w1"), cluster.pid("w2")]
        result = await load(target, seconds, rate, warmup, pids)
        result["stack"] = [loaded_modules(pid) for pid in pids]
        result["kb_per_socket"] = await idle_memory(target, [cluster.pid("w1"), cluster.pid("w2")])
        result["database"] = "PostgreSQL" if database else ("SQLite" if kind == "hub" else "none")
        await target.close()
        return result
    finally:
        cluster.stop()
        if database:
            drop_database()


def report(name, r, slowest=0):
    warm = r["warmup"]
    print(f"{name:<6} workers: {', '.join(r['stack'])}")
    if warm:
        print(
            f"       warm-up (untimed, not counted): {warm['seconds']:.1f} s, {warm['accepted']}/"
            f"{warm['published']} publishes accepted (bursts of {BRIDGE_THREADS} concurrent per worker),"
            f" frames {warm['frames']}/{warm['expected']}, acks {warm['acks']}/{warm['expected']};"
            f" threads per worker after it: {', '.join(map(str, warm['threads']))}"
        )
    else:
        print("       no warm-up")
    lat = r["accept"]
    print(
        f"       delivered {r['delivered']}/{r['expected']}"
        f" ({100 * r['delivered'] / max(1, r['expected']):.2f} %)"
        f"  publishes accepted {r['accepted']}/{r['published']} at {r['achieved_rate']:.1f}/s"
        f"  db={r['database']}"
    )
    print(
        f"       accepted→frame ms  p50 {percentile(lat, 50):6.1f}  p95 {percentile(lat, 95):6.1f}"
        f"  p99 {percentile(lat, 99):6.1f}  mean {statistics.fmean(lat) if lat else float('nan'):6.1f}"
    )
    s = r["send"]
    print(
        f"       sent→frame ms      p50 {percentile(s, 50):6.1f}  p95 {percentile(s, 95):6.1f}"
        f"  p99 {percentile(s, 99):6.1f}"
    )
    if r["missing"]:
        print(f"       events not delivered to every subscriber: {r['missing'][:10]}")
    print(f"       memory per idle socket ({IDLE_SOCKETS} sockets, RSS of both workers): ", end="")
    print(f"{r['kb_per_socket']:.1f} KiB")
    if slowest:
        events = {}  # per event: its slowest and fastest frame
        for ms, index, at in r["slowest"]:
            slow, fast, _ = events.get(index, (ms, ms, at))
            events[index] = (max(slow, ms), min(fast, ms), at)
        ranked = sorted(events.items(), key=lambda item: -item[1][0])[:slowest]
        print(f"       (measured window started at time.perf_counter() = {r['start']:.3f})")
        long = [f"gen{g} {ms:.1f} ms at {at / 1000:.2f} s" for g, at, ms in r["gc"] if ms >= 5]
        print(f"       load generator GC: {len(r['gc'])} collections, ≥ 5 ms: {', '.join(long) or 'none'}")
        print(
            f"       {len(ranked)} slowest events of {r['published']}"
            f" (sent→frame ms of their {PER_TOPIC} frames, fastest–slowest):"
        )
        for index, (slow, fast, at) in ranked:
            print(
                f"         #{index:<4} worker w{index % 2 + 1}  sent at {at / 1000:6.2f} s"
                f"  {fast:6.1f}–{slow:6.1f} ms"
            )


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument(
        "--warmup",
        type=float,
        default=3,
        help="seconds of untimed publishes (same rate, plus concurrent bursts) before measuring; 0: none",
    )
    parser.add_argument("--slowest", type=int, default=0, help="list the N slowest frames of each server")
    parser.add_argument("--keep-logs", action="store_true", help="keep the workers' logs (printed path)")
    args = parser.parse_args()
    if not reachable("127.0.0.1", 6379):
        sys.exit("Redis is not reachable at 127.0.0.1:6379")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    print(f"{TOPICS * PER_TOPIC} subscribers / {TOPICS} topics, ", end="")
    print(f"{args.rate:g} publishes/s for {args.seconds:g} s,")
    print("2 uvicorn workers, channels_redis RedisChannelLayer at 127.0.0.1:6379")
    if args.warmup > 0:
        print(f"warm-up before measuring: {args.warmup:g} s at {args.rate:g}/s + {WARMUP_BURSTS}", end="")
        print(f" bursts of {BRIDGE_THREADS} concurrent publishes per worker (untimed, not counted)")
    else:
        print("no warm-up")
    print(f"load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores)\n")
    results = {}
    tmp = tempfile.mkdtemp(prefix="fhircast-bench-")
    try:
        for kind in ("hub", "relay"):
            workdir = Path(tmp) / kind
            workdir.mkdir()
            results[kind] = await run_server(kind, workdir, args.seconds, args.rate, args.warmup)
            report(kind, results[kind], args.slowest)
            if args.keep_logs:
                print(f"       logs: {workdir}")
    finally:
        if not args.keep_logs:
            shutil.rmtree(tmp, ignore_errors=True)
    hub, relay = results["hub"], results["relay"]
    for label, key in (("accepted→frame", "accept"), ("sent→frame", "send")):
        ratio = percentile(hub[key], 99) / max(0.001, percentile(relay[key], 99))
        print(f"\nhub/relay p99 ({label}): {ratio:.2f}×", end="")
    print()
    complete = hub["delivered"] == hub["expected"] == hub["published"] * PER_TOPIC
    # The hub hands an event to the layer before it answers 202, so accepted→frame is ~0 by
    # construction; judge the target on the stricter request-sent→frame figure.
    p99 = percentile(hub["send"], 99)
    ratio = p99 / max(0.001, percentile(relay["send"], 99))
    print(f"\nTARGET 100 % delivery: {'met' if complete else 'NOT met'};", end=" ")
    print(f"p99 sent→frame ≤ 100 ms: {'met' if p99 <= 100 else 'NOT met'} ({p99:.1f} ms);", end=" ")
    print(f"≤ 1.5× relay: {'met' if ratio <= 1.5 else 'NOT met'} ({ratio:.2f}×)")
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores)")


if __name__ == "__main__":
    asyncio.run(main())
