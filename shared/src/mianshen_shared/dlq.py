"""死信处理 — the operator's tool for the dead-letter topic.

    python -m mianshen_shared.dlq list   [--reason R] [--limit N]
    python -m mianshen_shared.dlq replay --reason R [--from-offset N] [--to-offset N] [--dry-run]

`list` shows what was dead-lettered and why (the headers the consumer wrote).
`replay` sends the original bytes, key and headers of the chosen messages back
to the topic they came from, once the cause is fixed (a record type added to the
city, a policy corrected, a service bug deployed). It is safe to replay twice:
consumers drop events they already processed by event id, and a message that is
still bad is dead-lettered again with its reason. Each replayed message carries
`dlq.replayed_from` (the dead-letter offset) so the trail stays readable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from mianshen_shared.topics import DEAD_LETTER, TOPICS, physical

REPLAYED_FROM = "dlq.replayed_from"


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key == name:
                return value.decode("utf-8", errors="replace")
        return ""

    @property
    def reason(self) -> str:
        return self.header("dlq.reason")

    @property
    def source_topic(self) -> str:
        return self.header("dlq.source.topic")

    def original_headers(self) -> list[tuple[str, bytes]]:
        """The message's own headers, without the consumer's dlq.* annotations."""
        return [(k, v) for k, v in self.headers if not k.startswith("dlq.")]


async def read_dead_letters(
    bootstrap: str, prefix: str, *, from_offset: int = 0, to_offset: int | None = None
) -> list[DeadLetter]:
    """Every message of the dead-letter topic in [from_offset, to_offset] (one partition)."""
    topic = physical(DEAD_LETTER, prefix)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        # Offsets are per partition; the dead-letter topic is declared with one, and an
        # operator reading offsets from `list` must not have to name a partition.
        tps = [TopicPartition(topic, p) for p in range(TOPICS[DEAD_LETTER].partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        out: list[DeadLetter] = []
        for tp in tps:
            end = ends[tp] if to_offset is None else min(ends[tp], to_offset + 1)
            consumer.seek(tp, from_offset)
            while from_offset < end and await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                for msg in batch.get(tp, []):
                    if msg.offset < end:
                        headers = tuple((k, bytes(v)) for k, v in msg.headers)
                        out.append(DeadLetter(msg.offset, msg.key, msg.value or b"", headers))
        return sorted(out, key=lambda d: d.offset)
    finally:
        await consumer.stop()


def select(letters: Sequence[DeadLetter], *, reason: str | None) -> list[DeadLetter]:
    return [d for d in letters if reason is None or d.reason == reason]


async def replay(bootstrap: str, letters: Sequence[DeadLetter]) -> int:
    """Send each message back where it came from; returns how many were sent."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for d in letters:
            if not d.source_topic:
                raise ValueError(f"死信 {d.offset} 没有来源主题（dlq.source.topic），无法重放")
            headers = [*d.original_headers(), (REPLAYED_FROM, str(d.offset).encode())]
            await producer.send_and_wait(d.source_topic, value=d.value, key=d.key, headers=headers)
        return len(letters)
    finally:
        await producer.stop()


def _describe(d: DeadLetter) -> str:
    key = d.key.decode("utf-8", errors="replace") if d.key else "-"
    return (
        f"{d.offset}\t{d.header('dlq.time')}\t{d.reason}\t{d.source_topic}"
        f"@{d.header('dlq.source.partition')}:{d.header('dlq.source.offset')}\t{d.header('dlq.consumer')}"
        f"\t{key}\t{d.header('dlq.message')}"
    )


async def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mianshen_shared.dlq", description="查看与重放死信")
    parser.add_argument("--bootstrap", default=os.environ.get("MIANSHEN_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--prefix", default=os.environ.get("MIANSHEN_TOPIC_PREFIX", ""), help="主题前缀（测试环境）")
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("list", help="列出死信及原因")
    show.add_argument("--reason")
    show.add_argument("--limit", type=int, default=100)
    again = commands.add_parser("replay", help="把选中的死信送回来源主题")
    again.add_argument("--reason", required=True, help="只重放该原因的死信（先用 list 查看）")
    again.add_argument("--from-offset", type=int, default=0)
    again.add_argument("--to-offset", type=int)
    again.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)

    if args.command == "list":
        letters = select(await read_dead_letters(args.bootstrap, args.prefix), reason=args.reason)
        print("offset\ttime\treason\tsource\tconsumer\tkey\tmessage")
        for d in letters[-args.limit :]:
            print(_describe(d))
        print(f"共 {len(letters)} 条", file=sys.stderr)
        return 0
    letters = select(
        await read_dead_letters(args.bootstrap, args.prefix, from_offset=args.from_offset, to_offset=args.to_offset),
        reason=args.reason,
    )
    if args.dry_run:
        for d in letters:
            print(_describe(d))
        print(f"将重放 {len(letters)} 条（未发送）", file=sys.stderr)
        return 0
    sent = await replay(args.bootstrap, letters)
    print(f"已重放 {sent} 条", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> Any:
    return asyncio.run(_main(argv))


if __name__ == "__main__":
    sys.exit(main())
