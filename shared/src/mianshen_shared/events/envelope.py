"""The event envelope every message on the platform's topics carries.

CloudEvents-style attributes (`specversion`, `id`, `type`, `source`, `subject`,
`time`) plus the platform's `dataversion` and `correlationid`, and the CloudEvents
distributed-tracing extension `traceparent` (W3C Trace Context). `data` is the
payload, validated separately against the model registered for `type`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mianshen_shared import tracing

SPEC_VERSION = "1.0"


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: str = SPEC_VERSION
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str = Field(min_length=1, max_length=120)
    dataversion: int = Field(default=1, ge=1)
    source: str = Field(min_length=1, max_length=200)
    subject: str = Field(min_length=1, max_length=200)
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    correlationid: str = Field(min_length=1, max_length=200)
    datacontenttype: str = "application/json"
    data: dict[str, Any]
    # Optional, so events recorded before tracing (and their producers) stay valid.
    traceparent: str | None = Field(
        default=None,
        pattern=tracing.PATTERN,
        description="W3C Trace Context of the work that emitted the event (CloudEvents distributed tracing)",
    )

    def to_bytes(self) -> bytes:
        # Without a trace the bytes are what they were before the extension existed.
        return self.model_dump_json(exclude={"traceparent"} if self.traceparent is None else None).encode()


class InvalidEvent(ValueError):
    """A message that can never be processed; it goes to the dead-letter topic."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def parse_envelope(raw: bytes | None) -> Envelope:
    if raw is None:
        raise InvalidEvent("empty_message", "消息体为空")
    try:
        return Envelope.model_validate_json(raw)
    except ValidationError as exc:
        reason = "malformed_json" if any(e["type"] == "json_invalid" for e in exc.errors()) else "invalid_envelope"
        raise InvalidEvent(reason, f"事件信封无法解析：{_first_error(exc)}") from exc


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "<root>"
    return f"{where}: {err['msg']}"
