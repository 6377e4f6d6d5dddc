"""Stand-ins for Kafka and the platform's services, with the same observable behaviour."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from mianshen_shared.events import Envelope, parse_envelope


@dataclass
class SentRecord:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]

    @property
    def envelope(self) -> Envelope:
        return parse_envelope(self.value)


class FakeProducer:
    """Records what was sent. `refuse` makes `send` raise (broker unreachable);
    `fail_acks` makes the broker's acknowledgement fail after the send."""

    def __init__(self) -> None:
        self.sent: list[SentRecord] = []
        self.refuse: Exception | None = None
        self.fail_acks: Exception | None = None

    async def send(
        self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[None]:
        if self.refuse is not None:
            raise self.refuse
        self.sent.append(SentRecord(topic, key, value, headers))
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail_acks is not None:
            ack.set_exception(self.fail_acks)
        else:
            ack.set_result(None)
        return ack


Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeServices:
    """Every upstream service behind one httpx.MockTransport.

    `reply(host, path, ...)` sets the answer for a host:port and path (a list of
    answers is used in turn); unknown paths get the services' own 404 problem.
    """

    replies: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def reply(self, service_url: str, path: str, *answers: Reply) -> None:
        self.replies[(httpx.URL(service_url).netloc.decode(), path)] = list(answers)

    def requests_to(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answers = self.replies.get((request.url.netloc.decode(), request.url.path))
        if not answers:
            if request.url.path == "/healthz":
                return httpx.Response(200, json={"status": "ok"})
            return problem(404, "not_found", "资源不存在")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


def problem(status: int, code: str, detail: str) -> httpx.Response:
    body = {
        "type": f"https://mianshen.zhengzhou.gov.cn/problems/{code}",
        "title": detail,
        "status": status,
        "code": code,
        "detail": detail,
    }
    return httpx.Response(
        status,
        content=json.dumps(body, ensure_ascii=False).encode(),
        headers={"content-type": "application/problem+json"},
    )


def ok(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)
