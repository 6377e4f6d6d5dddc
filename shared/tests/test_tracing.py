"""W3C trace context: what the platform puts in envelopes, Kafka headers and logs."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from mianshen_shared import logs, tracing
from mianshen_shared.events import make_envelope, parse_envelope
from mianshen_shared.events.catalog import PolicyRetired
from mianshen_shared.messaging import Outbox

pytestmark = pytest.mark.unit
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def retired() -> PolicyRetired:
    return PolicyRetired(policy_id="p-1", version=1, retired_at=datetime(2026, 12, 1, tzinfo=UTC), reason="到期")


@pytest.mark.parametrize(
    "value",
    [
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # all-zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # all-zero span id
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # unknown version
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  # upper case
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033-01",  # short span id
        "",
        None,
    ],
)
def test_malformed_trace_contexts_are_not_continued(value: str | None) -> None:
    assert not tracing.is_valid(value)
    assert tracing.trace_id(tracing.child(value)) != "0af7651916cd43dd8448eb211c80319c"


def test_a_child_keeps_the_trace_and_its_flags_with_a_new_span() -> None:
    child = tracing.child(PARENT)
    assert tracing.is_valid(child)
    assert tracing.trace_id(child) == "0af7651916cd43dd8448eb211c80319c"
    assert child.endswith("-01")
    assert child[36:52] != PARENT[36:52]


def test_a_resumed_trace_spans_only_the_block_and_none_leaves_the_current_span() -> None:
    with tracing.span(None) as outer:
        with tracing.resumed(PARENT) as inner:
            assert tracing.trace_id(tracing.current.get()) == tracing.trace_id(PARENT)
            assert inner == tracing.current.get()
        assert tracing.current.get() == outer
        with tracing.resumed(None) as kept:
            assert kept == outer
    assert tracing.current.get() is None


def test_an_outbox_event_carries_the_current_span_in_its_envelope_and_its_header() -> None:
    outbox = Outbox(None, source="policy-catalog", topic_for=lambda name: f"t.{name}")  # type: ignore[arg-type]
    with tracing.span(PARENT) as span:
        envelope, row = outbox.row(retired(), key="p-1", correlation_id="c-1")
    assert envelope.traceparent == span
    assert row["headers"][tracing.HEADER] == span
    assert parse_envelope(row["payload"]).traceparent == span


def test_an_event_emitted_outside_any_trace_starts_its_own() -> None:
    outbox = Outbox(None, source="policy-catalog", topic_for=lambda name: f"t.{name}")  # type: ignore[arg-type]
    first, _ = outbox.row(retired(), key="p-1", correlation_id="c-1")
    second, _ = outbox.row(retired(), key="p-1", correlation_id="c-1")
    assert tracing.is_valid(first.traceparent) and tracing.is_valid(second.traceparent)
    assert tracing.trace_id(first.traceparent) != tracing.trace_id(second.traceparent)


def test_an_envelope_without_trace_context_is_written_as_before_the_extension() -> None:
    envelope = make_envelope(retired(), source="policy-catalog", subject="p-1", correlation_id="c-1")
    assert "traceparent" not in json.loads(envelope.to_bytes())
    assert parse_envelope(envelope.to_bytes()).traceparent is None


def test_an_envelope_with_a_malformed_traceparent_is_refused() -> None:
    envelope = make_envelope(retired(), source="policy-catalog", subject="p-1", correlation_id="c-1")
    body = {**json.loads(envelope.to_bytes()), "traceparent": "not-a-trace"}
    with pytest.raises(ValueError, match="traceparent"):
        parse_envelope(json.dumps(body).encode())


def test_log_lines_name_the_trace_of_the_work_in_hand() -> None:
    formatter = logs.JsonFormatter("eligibility")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "handled", None, None)
    with tracing.span(PARENT):
        inside = json.loads(formatter.format(record))
    outside = json.loads(formatter.format(record))
    assert inside["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert "trace_id" not in outside
