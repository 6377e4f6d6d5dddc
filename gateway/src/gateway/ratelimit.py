"""Rate limits per client, shared by every gateway replica through one Redis.

Who is limited: the principal the access guard admitted (`principal_of`), keyed
by its client id; anonymous callers of public routes are keyed by their IP
address (the socket peer, or the address a trusted proxy forwarded for — setting
`trusted_proxies`; anyone can write X-Forwarded-For, so it is believed from those
proxies only). Each client kind has its own allowance (settings `rate_limits`); raising an
objection draws on a second, much smaller allowance as well.

How: GCRA (the generic cell rate algorithm) in one Lua script, so reading and
advancing a client's "theoretical arrival time" is a single atomic step on the
Redis server, whichever replica asks, and the clock is Redis's own — replicas'
clocks never disagree about a window. One key per client and allowance, expiring
as soon as the client is back to a full burst.

Answers: a refused request gets 429 problem+json (code `rate_limited`) with
`Retry-After`; every limited answer carries `RateLimit-Limit` (the burst),
`RateLimit-Remaining` and `RateLimit-Reset` (seconds until the burst is whole).

When Redis cannot be reached or is too slow (settings
`rate_limit_redis_timeout_seconds`), reads (GET, HEAD) fail OPEN — they go
through unlimited, with a logged warning and the counter
`gateway_rate_limit_store_errors_total{outcome="open"}` — because refusing every
read would turn a cache outage into a platform outage, while a read changes
nothing. Everything else fails CLOSED with 503 `rate_limit_unavailable`
(`outcome="closed"`): unmetered writes are what limits exist to stop, and the
caller may safely retry a refused write later.

`rate_limit_redis_url` empty turns limiting off (unit tests, quick start); the
settings refuse that in production.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import Request
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.config import RateLimit, Settings
from gateway.principal import Principal, principal_of
from mianshen_shared.problems import ProblemError

log = logging.getLogger(__name__)

STORE_ERRORS = Counter(
    "gateway_rate_limit_store_errors_total",
    "Requests whose rate limit could not be checked because Redis failed, by what the gateway did",
    ["outcome"],
)
REFUSED = Counter("gateway_rate_limited_total", "Requests refused with 429, by client kind", ["kind"])

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_STATE_KEY = "rate_limit"

# KEYS[1]: the client's key. ARGV: emission interval and burst tolerance, both in
# microseconds. Returns {admitted, remaining, retry_after_us, reset_us}.
GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat - tolerance
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
local remaining = math.floor((now - (new_tat - interval - tolerance)) / interval)
return {1, remaining, 0, new_tat - now}
"""


@dataclass(frozen=True)
class Decision:
    admitted: bool
    limit: int
    remaining: int
    retry_after_seconds: float
    reset_seconds: float

    def headers(self) -> list[tuple[bytes, bytes]]:
        out = [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(max(self.remaining, 0)).encode()),
            (b"ratelimit-reset", str(math.ceil(self.reset_seconds)).encode()),
        ]
        if not self.admitted:
            out.append((b"retry-after", str(max(1, math.ceil(self.retry_after_seconds))).encode()))
        return out


class Store(Protocol):
    """Where the GCRA state lives; Redis in the gateway, a fake in unit tests."""

    async def gcra(self, key: str, interval_us: int, tolerance_us: int) -> list[int]: ...

    async def close(self) -> None: ...


class RedisStore:
    def __init__(self, url: str, timeout: float) -> None:
        self._redis: Redis = Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        self._script = self._redis.register_script(GCRA_SCRIPT)

    async def gcra(self, key: str, interval_us: int, tolerance_us: int) -> list[int]:
        result: Any = await self._script(keys=[key], args=[interval_us, tolerance_us])
        return [int(v) for v in result]

    async def close(self) -> None:
        await self._redis.aclose()


class RateLimiter:
    def __init__(self, store: Store | None, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        url = settings.rate_limit_redis_url
        store = RedisStore(url, settings.rate_limit_redis_timeout_seconds) if url else None
        return cls(store, settings)

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()

    def allowances(self, principal: Principal, request: Request) -> list[tuple[str, RateLimit]]:
        """The allowances this request draws on, each with its Redis key."""
        who = f"ip:{_client_ip(request)}" if principal.kind == "anonymous" else f"client:{principal.client_id}"
        prefix = self.settings.rate_limit_key_prefix
        out = []
        # The narrow allowance first: a request it refuses then costs nothing of the general one.
        if request.method == "POST" and _route_path(request).endswith("/objections"):
            out.append((f"{prefix}objection:{who}", self.settings.objection_rate_limit))
        out.append((f"{prefix}{principal.kind}:{who}", self.settings.rate_limits[principal.kind]))
        return out

    async def check(self, key: str, limit: RateLimit) -> Decision:
        assert self.store is not None
        interval_us = max(1, round(1_000_000 / limit.per_second))
        tolerance_us = interval_us * (limit.burst - 1)
        admitted, remaining, retry_after_us, reset_us = await self.store.gcra(key, interval_us, tolerance_us)
        return Decision(bool(admitted), limit.burst, remaining, retry_after_us / 1e6, reset_us / 1e6)

    async def enforce(self, request: Request) -> None:
        if self.store is None:
            return
        principal = principal_of(request)
        decisions: list[Decision] = []
        try:
            for key, limit in self.allowances(principal, request):
                decisions.append(await self.check(key, limit))
                if not decisions[-1].admitted:
                    break
        except (RedisError, OSError) as exc:
            self._store_failed(request, exc)
            return
        # The tightest allowance is the one the client needs to know about.
        decision = min(decisions, key=lambda d: (d.admitted, d.remaining))
        request.state.rate_limit = decision
        if not decision.admitted:
            REFUSED.labels(principal.kind).inc()
            raise ProblemError(
                429,
                "rate_limited",
                f"请求过于频繁，请{max(1, math.ceil(decision.retry_after_seconds))}秒后再试",
                retry_after_seconds=max(1, math.ceil(decision.retry_after_seconds)),
            )

    def _store_failed(self, request: Request, exc: Exception) -> None:
        if request.method in _SAFE_METHODS:
            STORE_ERRORS.labels("open").inc()
            log.warning(
                "rate limit store unavailable, letting %s %s through: %r", request.method, request.url.path, exc
            )
            return
        STORE_ERRORS.labels("closed").inc()
        log.error("rate limit store unavailable, refusing %s %s: %r", request.method, request.url.path, exc)
        raise ProblemError(503, "rate_limit_unavailable", "网关限流服务暂不可用，写操作暂停受理，请稍后重试")


async def enforce_rate_limit(request: Request) -> None:
    """Charge this request to its principal's allowance; raises 429 when spent.

    Called by the access guard once it knows the principal (a route's audience
    decides who the caller is, so this cannot run earlier, in a middleware)."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None:
        await limiter.enforce(request)


class RateLimitHeadersMiddleware:
    """Puts the RateLimit headers (and Retry-After) on the way out. Routes return
    the services' answers as ready-made Responses, which a dependency cannot add
    headers to, so the decision travels in the request state to here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            decision = state.get(_STATE_KEY)
            if message["type"] == "http.response.start" and isinstance(decision, Decision):
                message["headers"] = [*message.get("headers", []), *decision.headers()]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _route_path(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))
