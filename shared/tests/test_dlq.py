"""The dead-letter tool on the real broker: what was dead-lettered is listed with
its reason and, once the cause is fixed, sent back where it came from unchanged."""

from __future__ import annotations

import pytest

from mianshen_shared import dlq, testing
from mianshen_shared.topics import DEAD_LETTER, ensure_topics, physical

pytestmark = pytest.mark.integration


def _dead(source: str, offset: int, reason: str) -> list[tuple[str, bytes]]:
    return [
        ("correlationid", b"corr-1"),
        ("dlq.reason", reason.encode()),
        ("dlq.message", "未登记的数据类型：miit.new_type".encode()),
        ("dlq.source.topic", source.encode()),
        ("dlq.source.partition", b"0"),
        ("dlq.source.offset", str(offset).encode()),
        ("dlq.consumer", b"eligibility"),
        ("dlq.time", b"2026-11-25T08:00:00+00:00"),
    ]


async def test_dead_letters_are_listed_with_reasons_and_replayed_to_their_source(topic_prefix: str) -> None:
    await ensure_topics(testing.KAFKA_BOOTSTRAP, topic_prefix)
    source = physical("department-records", topic_prefix)
    dead = physical(DEAD_LETTER, topic_prefix)
    await testing.produce(dead, b'{"id": 1}', key="91410105MA0001", headers=_dead(source, 7, "unknown_record_type"))
    await testing.produce(dead, b"{oops", key="91410105MA0002", headers=_dead(source, 8, "malformed_json"))

    letters = await dlq.read_dead_letters(testing.KAFKA_BOOTSTRAP, topic_prefix)
    assert [(d.offset, d.reason) for d in letters] == [(0, "unknown_record_type"), (1, "malformed_json")]

    chosen = dlq.select(letters, reason="unknown_record_type")
    assert await dlq.replay(testing.KAFKA_BOOTSTRAP, chosen) == 1

    async with testing.TopicReader(source) as reader:
        replayed = await reader.wait_for(lambda m: m.key == b"91410105MA0001")
    headers = dict(replayed.headers)
    assert replayed.value == b'{"id": 1}'
    assert headers[dlq.REPLAYED_FROM] == b"0"
    assert headers["correlationid"] == b"corr-1"
    assert not any(k.startswith("dlq.") and k != dlq.REPLAYED_FROM for k in headers)
    assert all(m.key != b"91410105MA0002" for m in reader.messages), "only the chosen reason is replayed"


async def test_a_range_of_offsets_narrows_what_is_read(topic_prefix: str) -> None:
    await ensure_topics(testing.KAFKA_BOOTSTRAP, topic_prefix)
    source = physical("department-records", topic_prefix)
    dead = physical(DEAD_LETTER, topic_prefix)
    for i in range(3):
        await testing.produce(dead, b"x", key=f"k{i}", headers=_dead(source, i, "unknown_record_type"))
    letters = await dlq.read_dead_letters(testing.KAFKA_BOOTSTRAP, topic_prefix, from_offset=1, to_offset=1)
    assert [d.offset for d in letters] == [1]
