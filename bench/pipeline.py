"""Pipeline benchmark: prints figures, asserts nothing.

1. Throughput: N department records produced straight onto the department-records
   topic; reports records/s until eligibility has committed them all (its consumer
   group's committed offsets — committed only after its database commit, so these
   are records stored and evaluated) and determinations emitted.
2. Latency: records pushed through the gateway at a fixed rate; reports median and
   p99 from the push to `confirmation.requested` (that event's broker timestamp).

    .venv/bin/python bench/pipeline.py --records 20000 --rate 500 --seconds 20

Starts its own stack (PostgreSQL by default; --sqlite for the embedded default)
on the running Kafka, with a fresh topic prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from gateway.testing import AutoAuth, load_registry
from mianshen_shared import testing
from mianshen_shared.events import make_envelope, parse_envelope
from mianshen_shared.events.catalog import DepartmentRecordSubmitted
from mianshen_shared.stack import DEFAULT_PORTS, SERVICES, LocalStack
from mianshen_shared.topics import TOPICS, physical


def title_record(code: str, n: int) -> dict[str, object]:
    return testing.make_record(
        record_type="miit.sme_title_recognized",
        department="gxj",
        uscc_code=code,
        record_id=f"bench-{n}-{code}",
        attributes={"title": random.choice(["national_little_giant", "provincial_specialized"]), "document_no": "B-1"},
        effective_date=date(2022, 8, 1),
    )


async def committed(bootstrap: str, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)
    finally:
        await admin.close()


async def end_offsets(bootstrap: str, topic: str, partitions: int) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        return sum((await consumer.end_offsets(parts)).values())
    finally:
        # aiokafka's stop() of a consumer that never subscribed can raise a stray
        # CancelledError from its idle coordinator; the figures are already read.
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()


async def throughput(stack: LocalStack, n: int) -> None:
    topic = physical("department-records", stack.topic_prefix)
    codes = [testing.make_uscc() for _ in range(max(1, n // 2))]
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    payloads = []
    for i in range(n):
        code = codes[i % len(codes)]
        raw = title_record(code, i)
        raw.pop("action")
        env = make_envelope(
            DepartmentRecordSubmitted(**raw, received_at=now), source="bench", subject=code, correlation_id=f"bench-{i}"
        )
        payloads.append((code, env.to_bytes()))
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap, acks="all", linger_ms=10, max_batch_size=512 * 1024
    )
    await producer.start()
    started = time.monotonic()
    futures = [await producer.send(topic, value=v, key=k.encode()) for k, v in payloads]
    await asyncio.gather(*futures)
    produced = time.monotonic() - started
    await producer.stop()
    group = f"{stack.topic_prefix}eligibility"
    while (done := await committed(stack.kafka_bootstrap, group, topic)) < n:
        await asyncio.sleep(0.5)
        if time.monotonic() - started > 900:
            print(f"  gave up: {done}/{n} committed after 900 s")
            return
    elapsed = time.monotonic() - started
    determinations = await end_offsets(
        stack.kafka_bootstrap, physical("entitlements", stack.topic_prefix), TOPICS["entitlements"].partitions
    )
    print(f"throughput: {n} records produced in {produced:.1f}s; stored and evaluated by eligibility in {elapsed:.1f}s")
    print(
        f"  sustained {n / elapsed:,.0f} records/s into stored determinations ({determinations} determinations emitted)"
    )


async def settle(stack: LocalStack) -> None:
    """Wait until confirmation has consumed every determination, so the latency run
    does not queue behind the throughput run's backlog."""
    topic = physical("entitlements", stack.topic_prefix)
    end = await end_offsets(stack.kafka_bootstrap, topic, TOPICS["entitlements"].partitions)
    while await committed(stack.kafka_bootstrap, f"{stack.topic_prefix}confirmation", topic) < end:
        await asyncio.sleep(0.5)


async def latency(stack: LocalStack, rate: int, seconds: int) -> None:
    await settle(stack)
    pushed: dict[str, float] = {}
    requested: dict[str, float] = {}
    topic = physical("confirmations", stack.topic_prefix)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=stack.kafka_bootstrap, auto_offset_reset="latest", group_id=None
    )
    await consumer.start()
    await consumer.getmany(timeout_ms=500)  # join and settle at the end of the topic
    batch, interval = 10, 10 / rate

    async def reader() -> None:
        while True:
            for msgs in (await consumer.getmany(timeout_ms=200)).values():
                for m in msgs:
                    env = parse_envelope(m.value)
                    if env.type == "confirmation.requested":
                        requested.setdefault(env.subject, m.timestamp / 1000)

    read_task = asyncio.create_task(reader())
    async with httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30, auth=AutoAuth(load_registry())) as gw:
        tick = time.monotonic()
        deadline = tick + seconds
        sends = []
        while time.monotonic() < deadline:
            records = [title_record(testing.make_uscc(), i) for i in range(batch)]
            stamp = time.time()
            for r in records:
                pushed[str(r["uscc"])] = stamp
            sends.append(asyncio.create_task(gw.post("/v1/data-events", json={"records": records})))
            tick += interval
            await asyncio.sleep(max(0.0, tick - time.monotonic()))
        statuses = [r.status_code for r in await asyncio.gather(*sends)]
    wait_until = time.monotonic() + 60
    while len(requested.keys() & pushed.keys()) < len(pushed) and time.monotonic() < wait_until:
        await asyncio.sleep(0.5)
    read_task.cancel()
    await consumer.stop()
    lat = sorted((requested[k] - pushed[k]) * 1000 for k in pushed if k in requested)
    print(
        f"latency at {rate} records/s for {seconds}s: {len(pushed)} pushed "
        f"({statuses.count(202)}/{len(statuses)} batches accepted), {len(lat)} confirmation requests"
    )
    if lat:
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(
            f"  push → confirmation.requested: median {statistics.median(lat):.0f} ms, "
            f"p99 {p99:.0f} ms, max {lat[-1]:.0f} ms"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--profile", metavar="SERVICE", help="py-spy record this service during the throughput run")
    args = parser.parse_args()
    urls = {} if args.sqlite else {s: await testing.create_database(f"bench_{s.replace('-', '_')}") for s in SERVICES}
    stack = LocalStack(
        state_dir=Path(tempfile.mkdtemp(prefix="mianshen-bench-")),
        kafka_bootstrap=testing.KAFKA_BOOTSTRAP,
        topic_prefix=testing.topic_prefix(),
        database_urls=urls,
        ports={name: testing.free_port() for name in DEFAULT_PORTS},
    )
    try:
        stack.start()
        stack.seed_policies()
        await asyncio.sleep(2)
        print(
            f"stack: {'SQLite' if args.sqlite else 'PostgreSQL'}, "
            f"Kafka {stack.kafka_bootstrap}, prefix {stack.topic_prefix}"
        )
        spy = None
        if args.profile:
            import sys

            pid = stack.procs[args.profile].popen.pid  # type: ignore[union-attr]
            out = Path(tempfile.gettempdir()) / f"profile-{args.profile}.txt"
            spy = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--output",
                str(out),
                "--nonblocking",
            )
        if args.records:
            await throughput(stack, args.records)
        if spy is not None:
            spy.send_signal(2)
            await spy.wait()
            print(f"profile of {args.profile}: {out}")
        if not args.skip_latency:
            await latency(stack, args.rate, args.seconds)
    finally:
        stack.stop()
        for url in urls.values():
            await testing.drop_database(url)


if __name__ == "__main__":
    asyncio.run(main())
