"""The consumer's dead-letter hook: told of every message put on the dead-letter
topic, after it is there; a failing hook never costs the dead letter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from mianshen_shared.messaging import DeadLetter, EventConsumer

pytestmark = pytest.mark.unit


@dataclass
class FakeProducer:
    sent: list[tuple[str, bytes]] = field(default_factory=list)

    async def send_and_wait(self, topic: str, *, value: bytes, key: Any, headers: Any) -> None:
        self.sent.append((topic, value))


@dataclass(frozen=True)
class Message:
    value: bytes
    topic: str = "mjx.department-records.v1"
    partition: int = 0
    offset: int = 7
    key: bytes = b"91410105MA9DEM01XB"


def consumer(producer: FakeProducer, hook: Any) -> EventConsumer:
    return EventConsumer(
        service="test",
        group_id="test",
        bootstrap="unused:9092",
        topics=[],
        sessions=None,  # type: ignore[arg-type]
        processed_table=None,  # type: ignore[arg-type]
        handlers={},
        outbox=None,  # type: ignore[arg-type]
        dead_letter_topic="mjx.dead-letter.v1",
        producer=producer,  # type: ignore[arg-type]
        on_dead_letter=hook,
    )


async def test_the_hook_is_told_after_the_message_is_on_the_dead_letter_topic() -> None:
    producer, told = FakeProducer(), []

    async def hook(dead: DeadLetter) -> None:
        told.append((dead, list(producer.sent)))

    assert await consumer(producer, hook)._decode(Message(b"{not json")) is None  # type: ignore[arg-type]

    [(dead, sent_before_hook)] = told
    assert (dead.reason, dead.envelope) == ("malformed_json", None)
    assert sent_before_hook == [("mjx.dead-letter.v1", b"{not json")]


async def test_a_failing_hook_leaves_the_dead_letter_in_place_and_the_consumer_going() -> None:
    producer = FakeProducer()

    async def hook(dead: DeadLetter) -> None:
        raise ConnectionError("database down")

    assert await consumer(producer, hook)._decode(Message(b"")) is None  # type: ignore[arg-type]
    assert producer.sent == [("mjx.dead-letter.v1", b"")]
