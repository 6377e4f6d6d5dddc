"""Rate limits on the real Redis (deploy/local/redis/redis.sh): two gateway
replicas share one allowance, the refusal is a proper 429, the key expires, and
with the store unreachable reads pass while writes are refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis

from gateway.config import RateLimit, Settings
from gateway.main import create_app

from .fakes import FakeProducer, FakeServices, ok
from .harness import assert_problem

pytestmark = pytest.mark.integration
CATALOG = "http://127.0.0.1:8001"
PAYMENT = "http://127.0.0.1:8005"
OBJECTIONS = f"/notices/{uuid.uuid4()}/objections"
REASON = "该企业实际经营地不在郑州，申报材料与事实不符"
CALLER = ("192.0.2.44", 50000)


def replica_settings(tmp_path: Path, name: str, redis_url: str, prefix: str) -> Settings:
    # A slow refill (one every 10 s) so that the test's own pace cannot refill the burst.
    slow = RateLimit(per_second=0.1, burst=4)
    kinds = ("frontend", "department", "operator", "third_party", "anonymous")
    return Settings(
        messaging_enabled=False,
        database_url=f"sqlite+aiosqlite:///{tmp_path / f'{name}.sqlite'}",
        rate_limit_redis_url=redis_url,
        rate_limit_key_prefix=prefix,
        rate_limits={kind: slow for kind in kinds},
    )


async def replicas(stack: AsyncExitStack, tmp_path: Path, redis_url: str, prefix: str, n: int) -> list[AsyncClient]:
    clients = []
    for i in range(n):
        services = FakeServices()
        services.reply(CATALOG, "/policies", ok({"items": []}))
        services.reply(PAYMENT, OBJECTIONS, ok({"objection_id": str(uuid.uuid4())}, status=201))
        app = create_app(
            replica_settings(tmp_path, f"replica{i}", redis_url, prefix),
            producer=FakeProducer(),
            upstream_transport=services.transport,
        )
        await stack.enter_async_context(app.router.lifespan_context(app))
        transport = ASGITransport(app=app, client=CALLER)
        clients.append(await stack.enter_async_context(AsyncClient(transport=transport, base_url="http://gateway")))
    return clients


@pytest.fixture
async def key_prefix(redis_url: str) -> AsyncIterator[str]:
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


async def test_two_replicas_sharing_one_redis_hold_the_limit_together(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    async with AsyncExitStack() as stack:
        one, two = await replicas(stack, tmp_path, redis_url, key_prefix, 2)
        answers = [(await client.get("/v1/policies")).status_code for client in (one, two, one, two)]
        refused_by_one = await one.get("/v1/policies")
        refused_by_two = await two.get("/v1/policies")

    assert answers == [200, 200, 200, 200]
    for refused in (refused_by_one, refused_by_two):
        body = assert_problem(refused, 429, "rate_limited")
        assert "秒后再试" in body["detail"]
        assert 1 <= int(refused.headers["retry-after"]) <= 10
        assert (refused.headers["ratelimit-limit"], refused.headers["ratelimit-remaining"]) == ("4", "0")


async def test_the_counter_lives_in_redis_and_expires_once_the_burst_is_whole(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    async with AsyncExitStack() as stack:
        (client,) = await replicas(stack, tmp_path, redis_url, key_prefix, 1)
        r = await client.get("/v1/policies")
    assert r.headers["ratelimit-remaining"] == "3"

    redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{key_prefix}*")]
        assert keys == [f"{key_prefix}anonymous:ip:{CALLER[0]}".encode()]
        ttl_ms = await redis.pttl(keys[0])
    finally:
        await redis.aclose()
    # One request spent of a 10 s refill: gone again within 10 s, never kept forever.
    assert 0 < ttl_ms <= 10_000


async def test_with_redis_unreachable_reads_pass_and_writes_are_refused(tmp_path: Path, key_prefix: str) -> None:
    # Nothing listens on port 9 (discard) here: every call to the store fails fast.
    unreachable = "redis://127.0.0.1:9/0"
    async with AsyncExitStack() as stack:
        (client,) = await replicas(stack, tmp_path, unreachable, key_prefix, 1)
        reads = [(await client.get("/v1/policies")).status_code for _ in range(6)]
        write = await client.post(f"/v1{OBJECTIONS}", json={"reason": REASON})

    assert reads == [200] * 6
    assert_problem(write, 503, "rate_limit_unavailable")
