"""W3C Trace Context (https://www.w3.org/TR/trace-context/) across HTTP and Kafka.

A department push starts a trace at the gateway (or continues the caller's
`traceparent`); every event caused by it carries a `traceparent` with the same
trace id and the span id of the work that emitted it, in the envelope and as a
Kafka header, so one push can be followed to its payment in any tracing backend
that reads the standard header. Plain W3C strings, no tracing SDK: the platform
propagates context and logs the trace id; exporting spans is a deployment choice.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeGuard

HEADER = "traceparent"
# version 00, 32 hex trace id, 16 hex parent (span) id, 2 hex flags; lower case only.
_PATTERN = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
PATTERN = _PATTERN.pattern
_SAMPLED = "01"

# The span of the work in hand (a request, the handling of an event): what events
# emitted now carry, and whose trace id the log lines show.
current: ContextVar[str | None] = ContextVar("traceparent", default=None)


def is_valid(value: str | None) -> TypeGuard[str]:
    """A version-00 traceparent whose ids are not all zeros (the spec's invalid value)."""
    if value is None:
        return False
    match = _PATTERN.match(value)
    return match is not None and set(match[1]) != {"0"} and set(match[2]) != {"0"}


def trace_id(traceparent: str | None) -> str | None:
    return traceparent[3:35] if is_valid(traceparent) else None


def new() -> str:
    """The root of a new trace."""
    return f"00-{_nonzero_hex(16)}-{_nonzero_hex(8)}-{_SAMPLED}"


def child(parent: str | None) -> str:
    """A new span in the parent's trace, or a new trace when there is no valid parent."""
    if parent is None or not is_valid(parent):
        return new()
    return f"00-{parent[3:35]}-{_nonzero_hex(8)}-{parent[53:55]}"


def for_event() -> str:
    """The traceparent of an event emitted now: the current span's, or a new trace's."""
    return current.get() or new()


@contextmanager
def span(parent: str | None) -> Iterator[str]:
    """Work done inside runs in a new span under `parent` (a new trace when None)."""
    value = child(parent)
    token = current.set(value)
    try:
        yield value
    finally:
        current.reset(token)


@contextmanager
def resumed(traceparent: str | None) -> Iterator[str | None]:
    """Work done inside continues a trace kept from earlier (e.g. on a stored row):
    a new span in it. Without a valid one, the current span stays."""
    if not is_valid(traceparent):
        yield current.get()
        return
    with span(traceparent) as value:
        yield value


def _nonzero_hex(nbytes: int) -> str:
    while True:
        value = secrets.token_hex(nbytes)
        if set(value) != {"0"}:
            return value
