"""Rate limits with the store faked: who is charged, what a refused caller is told,
and what happens when the store is gone (reads go through, writes are refused)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI, Request
from httpx import ASGITransport, AsyncClient
from prometheus_client import REGISTRY
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.config import RateLimit, Settings
from gateway.main import create_app
from gateway.principal import Principal
from gateway.ratelimit import RateLimiter, RateLimitHeadersMiddleware, enforce_rate_limit
from mianshen_shared import problems

from .fakes import FakeProducer, FakeServices, ok
from .harness import assert_problem

pytestmark = pytest.mark.unit
CATALOG = "http://127.0.0.1:8001"
PAYMENT = "http://127.0.0.1:8005"
OBJECTIONS = f"/notices/{uuid.uuid4()}/objections"
REASON = "该企业实际经营地不在郑州，申报材料与事实不符"


class FakeStore:
    """GCRA with the same arithmetic as the Lua script, on a clock the test moves."""

    def __init__(self) -> None:
        self.now_us = 1_700_000_000_000_000
        self.tat: dict[str, int] = {}
        self.down = False
        self.calls: list[str] = []

    async def gcra(self, key: str, interval_us: int, tolerance_us: int) -> list[int]:
        self.calls.append(key)
        if self.down:
            raise RedisConnectionError("connection refused")
        tat = max(self.tat.get(key, self.now_us), self.now_us)
        allow_at = tat - tolerance_us
        if self.now_us < allow_at:
            return [0, 0, allow_at - self.now_us, tat - self.now_us]
        new_tat = tat + interval_us
        self.tat[key] = new_tat
        return [1, (self.now_us - (new_tat - interval_us - tolerance_us)) // interval_us, 0, new_tat - self.now_us]

    def advance(self, seconds: float) -> None:
        self.now_us += round(seconds * 1_000_000)

    async def close(self) -> None:
        pass


def limited_settings(tmp_path: Path, **overrides: object) -> Settings:
    limits = {kind: RateLimit(per_second=1, burst=3) for kind in ("frontend", "operator", "third_party", "anonymous")}
    limits["department"] = RateLimit(per_second=2, burst=5)
    values: dict[str, object] = {
        "messaging_enabled": False,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.sqlite'}",
        "rate_limit_redis_url": "redis://unused.invalid:6379/0",
        "rate_limits": limits,
        "objection_rate_limit": RateLimit(per_second=0.1, burst=2),
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


class Limited:
    def __init__(self, client: AsyncClient, store: FakeStore, services: FakeServices) -> None:
        self.client, self.store, self.services = client, store, services

    def from_ip(self, ip: str) -> AsyncClient:
        app = self.client._transport.app  # type: ignore[attr-defined]
        return AsyncClient(transport=ASGITransport(app=app, client=(ip, 40000)), base_url="http://gateway")


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[Limited]:
    """The gateway with limits on and its store faked; anonymous callers get a burst of 3."""
    settings = limited_settings(tmp_path)
    services, store = FakeServices(), FakeStore()
    services.reply(CATALOG, "/policies", ok({"items": []}))
    services.reply(PAYMENT, OBJECTIONS, ok({"objection_id": str(uuid.uuid4())}, status=201))
    app = create_app(settings, producer=FakeProducer(), upstream_transport=services.transport)
    app.state.rate_limiter = RateLimiter(store, settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app, client=("203.0.113.7", 40000)), base_url="http://gateway") as c,
    ):
        yield Limited(c, store, services)


def store_errors(outcome: str) -> float:
    return REGISTRY.get_sample_value("gateway_rate_limit_store_errors_total", {"outcome": outcome}) or 0.0


async def test_a_burst_goes_through_and_the_next_request_is_refused_with_429(limited: Limited) -> None:
    for _ in range(3):
        assert (await limited.client.get("/v1/policies")).status_code == 200

    r = await limited.client.get("/v1/policies")

    body = assert_problem(r, 429, "rate_limited")
    assert "请求过于频繁" in body["detail"]
    assert r.headers["retry-after"] == "1"
    assert (r.headers["ratelimit-limit"], r.headers["ratelimit-remaining"]) == ("3", "0")
    assert len(limited.services.requests_to("/policies")) == 3


async def test_admitted_answers_count_down_the_remaining_allowance(limited: Limited) -> None:
    seen = [(await limited.client.get("/v1/policies")).headers["ratelimit-remaining"] for _ in range(3)]
    assert seen == ["2", "1", "0"]
    r = await limited.client.get("/v1/policies")
    assert r.headers["ratelimit-reset"] == "3"
    assert "retry-after" not in (await limited.from_ip("198.51.100.1").get("/v1/policies")).headers


async def test_the_allowance_refills_at_the_sustained_rate(limited: Limited) -> None:
    for _ in range(3):
        await limited.client.get("/v1/policies")
    assert (await limited.client.get("/v1/policies")).status_code == 429

    limited.store.advance(1.0)

    assert (await limited.client.get("/v1/policies")).status_code == 200
    assert (await limited.client.get("/v1/policies")).status_code == 429


async def test_anonymous_callers_are_limited_per_ip_address(limited: Limited) -> None:
    for _ in range(3):
        await limited.client.get("/v1/policies")
    assert (await limited.client.get("/v1/policies")).status_code == 429

    async with limited.from_ip("198.51.100.1") as other:
        assert (await other.get("/v1/policies")).status_code == 200


async def test_a_forwarded_for_header_does_not_buy_a_fresh_allowance(limited: Limited) -> None:
    for i in range(4):
        r = await limited.client.get("/v1/policies", headers={"X-Forwarded-For": f"10.0.0.{i}"})
    assert r.status_code == 429


async def test_objections_draw_on_a_smaller_allowance_of_their_own(limited: Limited) -> None:
    for _ in range(2):
        r = await limited.client.post(f"/v1{OBJECTIONS}", json={"reason": REASON})
        assert r.status_code == 201, r.text

    r = await limited.client.post(f"/v1{OBJECTIONS}", json={"reason": REASON})

    assert_problem(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) == 10
    assert r.headers["ratelimit-limit"] == "2"
    assert len(limited.services.requests_to(OBJECTIONS)) == 2
    # The general allowance still has one request left for reading.
    assert (await limited.client.get("/v1/policies")).status_code == 200


async def test_reads_go_through_unlimited_when_the_store_is_down(limited: Limited) -> None:
    limited.store.down = True
    before = store_errors("open")

    answers = [(await limited.client.get("/v1/policies")).status_code for _ in range(5)]

    assert answers == [200] * 5
    assert store_errors("open") == before + 5


async def test_writes_are_refused_with_503_when_the_store_is_down(limited: Limited) -> None:
    limited.store.down = True
    before = store_errors("closed")

    r = await limited.client.post(f"/v1{OBJECTIONS}", json={"reason": REASON})

    body = assert_problem(r, 503, "rate_limit_unavailable")
    assert "稍后重试" in body["detail"]
    assert limited.services.requests_to(OBJECTIONS) == []
    assert store_errors("closed") == before + 1


async def test_without_a_store_url_nothing_is_limited_or_counted(tmp_path: Path) -> None:
    settings = limited_settings(tmp_path, rate_limit_redis_url="")
    services = FakeServices()
    services.reply(CATALOG, "/policies", ok({"items": []}))
    app = create_app(settings, producer=FakeProducer(), upstream_transport=services.transport)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://gateway") as client,
    ):
        answers = [await client.get("/v1/policies") for _ in range(10)]
    assert {r.status_code for r in answers} == {200}
    assert "ratelimit-limit" not in answers[-1].headers


# --- principals: a tiny app whose guard admits whoever the test names ----------------------------


def principal_app(limiter: RateLimiter) -> FastAPI:
    async def admit(request: Request) -> None:
        kind = request.headers["x-kind"]
        request.state.principal = Principal(
            client_id=request.headers["x-client"],
            kind=kind,  # type: ignore[arg-type]
            scopes=frozenset(),
        )
        await enforce_rate_limit(request)

    app = FastAPI()
    app.state.rate_limiter = limiter
    app.add_middleware(RateLimitHeadersMiddleware)
    problems.install(app)

    @app.get("/v1/thing", dependencies=[Depends(admit)])
    async def thing() -> dict[str, str]:
        return {"ok": "yes"}

    return app


async def spend(client: AsyncClient, kind: str, client_id: str, times: int) -> list[int]:
    headers = {"x-kind": kind, "x-client": client_id}
    return [(await client.get("/v1/thing", headers=headers)).status_code for _ in range(times)]


async def test_each_client_has_its_own_allowance_sized_by_its_kind(tmp_path: Path) -> None:
    app = principal_app(RateLimiter(FakeStore(), limited_settings(tmp_path)))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://gateway") as client:
        assert await spend(client, "department", "gxj-system", 6) == [200] * 5 + [429]
        assert await spend(client, "department", "rsj-system", 5) == [200] * 5
        assert await spend(client, "third_party", "credit-app", 4) == [200] * 3 + [429]
        r = await client.get("/v1/thing", headers={"x-kind": "department", "x-client": "rsj-system"})
    assert r.headers["ratelimit-limit"] == "5"


async def test_registered_clients_are_charged_by_client_id_not_by_address(tmp_path: Path) -> None:
    app = principal_app(RateLimiter(FakeStore(), limited_settings(tmp_path)))
    async with (
        AsyncClient(transport=ASGITransport(app=app, client=("10.0.0.1", 1)), base_url="http://gw") as one,
        AsyncClient(transport=ASGITransport(app=app, client=("10.0.0.2", 1)), base_url="http://gw") as two,
    ):
        assert await spend(one, "operator", "ops-1", 3) == [200] * 3
        assert await spend(two, "operator", "ops-1", 1) == [429]


def test_production_refuses_to_run_without_a_rate_limit_store() -> None:
    with pytest.raises(ValidationError, match="RATE_LIMIT_REDIS_URL"):
        Settings(environment="production", database_url="postgresql+asyncpg://x/y", rate_limit_redis_url="")


def test_a_limit_table_missing_a_client_kind_is_refused() -> None:
    with pytest.raises(ValidationError, match="third_party"):
        Settings(rate_limits={"frontend": RateLimit(per_second=1, burst=1)})


def test_a_limit_without_a_burst_is_refused() -> None:
    with pytest.raises(ValidationError):
        RateLimit(per_second=5, burst=0)
