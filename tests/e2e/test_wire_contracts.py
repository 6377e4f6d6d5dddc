"""Producers' real output on the wire, checked against the published contracts
(schema and recorded example).

Runs after the flow tests in this package (same stack): every event any service
put on any topic must match its JSON Schema in tests/contract/schemas/."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from mianshen_shared import testing
from mianshen_shared.config import REPO_ROOT
from mianshen_shared.events import EVENTS, parse_envelope
from mianshen_shared.stack import LocalStack
from mianshen_shared.topics import DEAD_LETTER, TOPICS, physical

pytestmark = pytest.mark.e2e
SCHEMAS = REPO_ROOT / "tests" / "contract" / "schemas"
EXAMPLES = REPO_ROOT / "tests" / "contract" / "examples"


async def test_every_event_on_the_wire_matches_its_published_schema(stack: LocalStack) -> None:
    seen: Counter[str] = Counter()
    problems = []
    async with testing.TopicReader(physical(DEAD_LETTER, stack.topic_prefix)) as dlq:
        for _ in range(10):
            await dlq.poll()
    refused = {
        (h["dlq.source.topic"].decode(), int(h["dlq.source.partition"]), int(h["dlq.source.offset"]))
        for h in (dict(m.headers) for m in dlq.messages)
    }
    for name in TOPICS:
        if name == DEAD_LETTER:
            continue  # holds what was refused, by design
        async with testing.TopicReader(physical(name, stack.topic_prefix)) as reader:
            for _ in range(10):
                await reader.poll()
        for message in reader.messages:
            if (message.topic, message.partition, message.offset) in refused:
                continue  # sent on purpose by a bad-input test; refused with a reason
            envelope = parse_envelope(message.value)
            assert EVENTS[envelope.type].topic == name, f"{envelope.type} travelled on {name}"
            assert message.key.decode() == envelope.subject, "records are keyed by their subject"
            schema = json.loads((SCHEMAS / f"{envelope.type}.schema.json").read_text("utf-8"))
            validator = Draft202012Validator(schema, format_checker=FormatChecker())
            body = json.loads(message.value)
            problems += [f"{envelope.type}: {e.message}" for e in validator.iter_errors(body)]
            recorded = json.loads((EXAMPLES / f"{envelope.type}.json").read_text("utf-8"))
            if set(body) != set(recorded) or set(body["data"]) != set(recorded["data"]):
                problems.append(f"{envelope.type}: fields differ from the recorded example")
            seen[envelope.type] += 1
    assert problems == []
    produced_by_the_flow = {
        "department.record.submitted",
        "policy.published",
        "entitlement.determined",
        "confirmation.requested",
        "confirmation.accepted",
        "credit.assessed",
        "payment.issued",
    }
    assert produced_by_the_flow <= set(seen), f"missing on the wire: {produced_by_the_flow - set(seen)}"
