"""One department push followed to its payment by its W3C trace: the caller's trace
id is on every Kafka message the push causes, in the envelope and in the header,
across the enterprise's answer by HTTP, and in every service's logs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.testing import AutoAuth, load_registry
from mianshen_shared import testing, tracing
from mianshen_shared.events import parse_envelope
from mianshen_shared.stack import LocalStack
from mianshen_shared.topics import physical

from .test_mianshen_flow import accept_all, settled, title

pytestmark = pytest.mark.e2e
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
# What each hop puts on the wire for the push, in order.
HOPS = [
    ("department-records", "department.record.submitted"),
    ("entitlements", "entitlement.determined"),
    ("confirmations", "confirmation.requested"),
    ("confirmations", "confirmation.accepted"),
    ("credit-assessments", "credit.assessed"),
    ("payments", "payment.issued"),
]


async def message_of(stack: LocalStack, topic: str, event_type: str, uscc: str) -> Any:
    async with testing.TopicReader(physical(topic, stack.topic_prefix)) as reader:
        return await reader.wait_for(
            lambda m: m.key == uscc.encode() and parse_envelope(m.value).type == event_type, timeout=60
        )


async def test_the_trace_of_a_department_push_reaches_its_payment(stack: LocalStack) -> None:
    code = testing.make_uscc()
    async with httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30, auth=AutoAuth(load_registry())) as gw:
        r = await gw.post(
            "/v1/data-events",
            json={"records": [title(code, "provincial_specialized")]},
            headers={tracing.HEADER: CALLER},
        )
        assert r.status_code == 202, r.text
        await accept_all(gw, code, expected=1)
        assert [item["status"] for item in await settled(gw, code)] == ["paid"]

    spans = []
    for topic, event_type in HOPS:
        message = await message_of(stack, topic, event_type, code)
        envelope = parse_envelope(message.value)
        assert tracing.trace_id(envelope.traceparent) == TRACE_ID, f"{event_type} left the push's trace"
        assert dict(message.headers)[tracing.HEADER] == envelope.traceparent.encode()  # type: ignore[union-attr]
        spans.append(envelope.traceparent)
    assert CALLER not in spans, "the gateway works in a span of its own under the caller's"
    assert len(set(spans)) == len(spans), "each hop is a span of its own"
    for service in ("gateway", "eligibility", "confirmation", "credit-check", "payment"):
        assert f'"trace_id": "{TRACE_ID}"' in stack.procs[service].log_path.read_text(errors="replace"), (
            f"the push's trace id does not reach {service}'s logs"
        )


async def test_a_push_without_trace_context_starts_a_trace_of_its_own(stack: LocalStack) -> None:
    code = testing.make_uscc()
    async with httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30, auth=AutoAuth(load_registry())) as gw:
        r = await gw.post(
            "/v1/data-events",
            json={"records": [title(code, "provincial_specialized")]},
            headers={tracing.HEADER: "00-not-a-trace"},
        )
        assert r.status_code == 202, r.text
    pushed = parse_envelope((await message_of(stack, "department-records", "department.record.submitted", code)).value)
    determined = parse_envelope((await message_of(stack, "entitlements", "entitlement.determined", code)).value)
    assert tracing.is_valid(pushed.traceparent)
    assert tracing.trace_id(determined.traceparent) == tracing.trace_id(pushed.traceparent)
