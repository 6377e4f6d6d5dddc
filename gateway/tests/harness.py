"""What gateway unit tests drive and how they read its answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient, Response

from gateway.config import Settings
from gateway.testing import DevClient

from .fakes import FakeProducer, FakeServices

PROBLEM_JSON = "application/problem+json"


@dataclass
class Harness:
    app: FastAPI
    client: AsyncClient
    producer: FakeProducer
    services: FakeServices
    settings: Settings
    bare: AsyncClient | None = None
    registry: dict[str, DevClient] = field(default_factory=dict)


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def assert_problem(response: Response, status: int, code: str) -> dict[str, Any]:
    """The answer is problem+json with this status and code, explained in Chinese."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["code"] == code
    assert has_chinese(body["detail"]), body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body  # type: ignore[no-any-return]
