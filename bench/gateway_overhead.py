"""Gateway overhead benchmark: prints figures, asserts nothing.

One enterprise read — an enterprise's entitlements — issued at a fixed rate
through the gateway (authenticated as 亲清在线 with a signed enterprise assertion,
token cached as a real front end would) and the same read straight against the
confirmation service. Reports median and p99 of both and the difference: what
authentication, the access guard, rate limiting (when on) and forwarding cost.

    .venv/bin/python bench/gateway_overhead.py --rate 50 --seconds 20
    .venv/bin/python bench/gateway_overhead.py --gateway http://127.0.0.1:8000 \\
        --service http://127.0.0.1:8003

Without --gateway/--service it starts its own stack (SQLite, fresh topic prefix,
development client registry) on the running Kafka; --redis turns the gateway's
rate limits on there. Requests are sent open-loop (on schedule, not after the
previous answer), so a slow answer does not hide the queueing it causes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from gateway.testing import AutoAuth, load_registry
from mianshen_shared import testing
from mianshen_shared.stack import DEFAULT_PORTS, LocalStack
from mianshen_shared.web import GATEWAY_TOKEN_HEADER, sign_gateway_token

ENTERPRISE = "91410105MAH5DHGYXC"
WARM_UP = 20


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


async def measure(client: httpx.AsyncClient, path: str, rate: float, seconds: float, sign: str = "") -> list[float]:
    """Milliseconds per answered 200, requests started every 1/rate s."""

    async def one() -> float | None:
        headers = {GATEWAY_TOKEN_HEADER: sign_gateway_token(sign, "GET", path)} if sign else {}
        started = time.perf_counter()
        r = await client.get(path, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        return elapsed if r.status_code == 200 else None

    for _ in range(WARM_UP):  # connections, tokens, caches
        if await one() is None:
            r = await client.get(path)
            raise SystemExit(f"{client.base_url}{path} answers {r.status_code}: {r.text[:300]}")
    tasks = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    results = await asyncio.gather(*tasks)
    answered = [r for r in results if r is not None]
    if len(answered) < len(results):
        print(f"  {len(results) - len(answered)} of {len(results)} requests to {path} were not answered 200")
    return answered


def report(name: str, values: list[float]) -> tuple[float, float]:
    median, tail = statistics.median(values), p99(values)
    print(f"{name:<10} n={len(values):>5}  median {median:7.2f} ms  p99 {tail:7.2f} ms")
    return median, tail


async def run(gateway_url: str, service_url: str, rate: float, seconds: float, internal_secret: str) -> None:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with (
        httpx.AsyncClient(base_url=gateway_url, timeout=30, limits=limits, auth=AutoAuth(load_registry())) as gw,
        httpx.AsyncClient(base_url=service_url, timeout=30, limits=limits) as direct,
    ):
        print(f"GET one enterprise's entitlements, {rate:g} req/s for {seconds:g} s each, open loop")
        direct_ms = await measure(direct, f"/enterprises/{ENTERPRISE}/entitlements", rate, seconds, internal_secret)
        gateway_ms = await measure(gw, f"/v1/enterprises/{ENTERPRISE}/entitlements", rate, seconds)
    d_median, d_p99 = report("direct", direct_ms)
    g_median, g_p99 = report("gateway", gateway_ms)
    print(f"{'overhead':<10} {'':>7}  median {g_median - d_median:+7.2f} ms  p99 {g_p99 - d_p99:+7.2f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--gateway", help="a running gateway (with the development client registry)")
    parser.add_argument("--service", help="the confirmation service behind that gateway")
    parser.add_argument("--internal-secret", default="", help="signs direct calls when services demand it")
    parser.add_argument("--redis", default="", help="own stack only: rate limits on this Redis URL")
    args = parser.parse_args()
    if bool(args.gateway) != bool(args.service):
        parser.error("--gateway and --service go together")
    if args.gateway:
        await run(args.gateway, args.service, args.rate, args.seconds, args.internal_secret)
        return
    stack = LocalStack(
        state_dir=Path(tempfile.mkdtemp(prefix="mianshen-bench-gw-")),
        kafka_bootstrap=testing.KAFKA_BOOTSTRAP,
        topic_prefix=testing.topic_prefix(),
        ports={name: testing.free_port() for name in DEFAULT_PORTS},
        rate_limit_redis_url=args.redis,
    )
    try:
        stack.start()
        limits = args.redis or "off"
        print(f"stack: SQLite, Kafka {stack.kafka_bootstrap}, prefix {stack.topic_prefix}, rate limits {limits}")
        # Services of a stack that shares an internal secret answer only signed calls.
        secret = str(getattr(stack, "internal_secret", ""))
        await run(stack.url("gateway"), stack.url("confirmation"), args.rate, args.seconds, secret)
    finally:
        stack.stop()
        await testing.delete_topics(stack.topic_prefix)


if __name__ == "__main__":
    asyncio.run(main())
