"""The platform's Kafka topics, declared once.

Every record is keyed by the enterprise's 统一社会信用代码 (policies by policy id),
so one enterprise's events stay in order on one partition. A prefix lets tests
and several local stacks share one broker without seeing each other's records.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int


_WEEK = 7 * 24 * 3600 * 1000
TOPICS: dict[str, TopicSpec] = {
    spec.name: spec
    for spec in (
        TopicSpec("department-records", 6, 4 * _WEEK),
        TopicSpec("policies", 1, -1),  # compacted history of the catalogue; kept forever
        TopicSpec("entitlements", 6, 4 * _WEEK),
        TopicSpec("confirmations", 6, 4 * _WEEK),
        TopicSpec("credit-assessments", 6, 4 * _WEEK),
        TopicSpec("payments", 6, 4 * _WEEK),
        TopicSpec("dead-letter", 1, 8 * _WEEK),
    )
}
DEAD_LETTER = "dead-letter"


def physical(name: str, prefix: str) -> str:
    """The broker-side name: `<prefix>mjx.<name>.v1`."""
    if name not in TOPICS:
        raise KeyError(f"undeclared topic {name!r}")
    return f"{prefix}mjx.{name}.v1"


async def ensure_topics(bootstrap: str, prefix: str = "") -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    for attempt in range(60):
        try:
            await admin.start()
            break
        except Exception:
            if attempt == 59:
                raise
            await asyncio.sleep(0.5)
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                physical(spec.name, prefix),
                num_partitions=spec.partitions,
                replication_factor=1,
                topic_configs={"retention.ms": str(spec.retention_ms)},
            )
            for spec in TOPICS.values()
            if physical(spec.name, prefix) not in existing
        ]
        if wanted:
            # Another service may have created them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
    finally:
        await admin.close()
