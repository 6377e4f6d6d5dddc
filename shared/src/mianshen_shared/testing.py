"""Test support shared by every service's tests: real infrastructure, isolated.

Integration tests talk to the real PostgreSQL and Kafka started by
`scripts/test` (or already running). Each test session gets its own freshly
migrated database per service and its own topic prefix, so runs never see each
other's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import socket
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from mianshen_shared import uscc

PG_ADMIN_DSN = os.environ.get("MIANSHEN_TEST_PG", "postgresql://postgres@127.0.0.1:55432/postgres")
KAFKA_BOOTSTRAP = os.environ.get("MIANSHEN_TEST_KAFKA", "127.0.0.1:9092")


def unique_suffix() -> str:
    return uuid.uuid4().hex[:10]


async def create_database(prefix: str) -> str:
    """Create an empty PostgreSQL database and return its SQLAlchemy asyncpg URL."""
    name = f"{prefix}_{unique_suffix()}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    host_part = PG_ADMIN_DSN.split("://", 1)[1].rsplit("/", 1)[0]
    return f"postgresql+asyncpg://{host_part}/{name}"


async def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def topic_prefix() -> str:
    return f"t{unique_suffix()}."


async def delete_topics(prefix: str) -> None:
    """Delete every topic a test created under `prefix`: thousands of leftover test
    partitions make the local broker slow to start and slow to create topics."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA_BOOTSTRAP)
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


# --- factories ------------------------------------------------------------------

_counter = itertools.count(1)
_ORG_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def make_uscc(division: str = "410105", *, rng: random.Random | None = None) -> str:
    """A valid 统一社会信用代码 registered in `division` (default: 郑州市金水区)."""
    r = rng or random
    body = "MA" + "".join(r.choice(_ORG_CHARS) for _ in range(6))
    return uscc.build("9", "1", division, body)


def make_record(
    *,
    record_type: str,
    attributes: dict[str, Any],
    department: str,
    uscc_code: str | None = None,
    effective_date: date = date(2022, 6, 1),
    record_id: str | None = None,
    action: str = "upsert",
    enterprise_name: str | None = "郑州示例科技有限公司",
) -> dict[str, Any]:
    """One department record as a department would push it."""
    return {
        "record_id": record_id or f"{department}-{next(_counter)}-{''.join(random.choices(string.digits, k=6))}",
        "department": department,
        "uscc": uscc_code or make_uscc(),
        "enterprise_name": enterprise_name,
        "record_type": record_type,
        "effective_date": effective_date.isoformat(),
        "attributes": attributes,
        "action": action,
    }


def now() -> datetime:
    return datetime.now(UTC)


async def wait_for(predicate: Any, *, timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll an async predicate until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


# --- Kafka helpers ----------------------------------------------------------------


async def produce(
    topic: str,
    value: bytes,
    *,
    key: str,
    headers: list[tuple[str, bytes]] | None = None,
    bootstrap: str = KAFKA_BOOTSTRAP,
) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=key.encode(), headers=headers)
    finally:
        await producer.stop()


class TopicReader:
    """Reads a topic from the beginning, for assertions on what services emitted."""

    def __init__(self, topic: str, bootstrap: str = KAFKA_BOOTSTRAP) -> None:
        from aiokafka import AIOKafkaConsumer

        self.topic = topic
        self.messages: list[Any] = []
        self._consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
        )

    async def __aenter__(self) -> TopicReader:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def poll(self) -> list[Any]:
        batch = await self._consumer.getmany(timeout_ms=100)
        for msgs in batch.values():
            self.messages.extend(msgs)
        return self.messages

    async def wait_for(self, predicate: Any, *, timeout: float = 30.0) -> Any:
        async def found() -> Any:
            await self.poll()
            return next((m for m in self.messages if predicate(m)), None)

        return await wait_for(found, timeout=timeout)

    def envelopes(self, event_type: str | None = None) -> list[Any]:
        from mianshen_shared.events import parse_envelope

        out = []
        for m in self.messages:
            try:
                env = parse_envelope(m.value)
            except Exception:
                continue
            if event_type is None or env.type == event_type:
                out.append(env)
        return out


# --- processes started for a test ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_child(
    module: str, args: Sequence[str], *, port: int, log_dir: Path, ready_within: float = 20.0
) -> subprocess.Popen[bytes]:
    """`python -m <module> --port <port> <args>` with its output in
    `<log_dir>/<module>_<port>.log`, returned once GET /healthz answers 200."""
    log_path = log_dir / f"{module}_{port}.log"
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", module, "--port", str(port), *args], stdout=log_file, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + ready_within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{module} exited with {process.returncode}; see {log_path}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                return process
        time.sleep(0.1)
    stop_child(process)
    raise RuntimeError(f"{module} did not become ready within {ready_within:g}s; see {log_path}")


def stop_child(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
