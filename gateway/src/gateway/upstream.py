"""Calls from the gateway to the platform's services.

Upstream answers pass through unchanged (status and body, problem+json
included), so the services stay the authority on their own errors. Only the
gateway's own failures to reach them become 502/504 here.

Each service has its own timeout (settings `upstream_timeouts`, falling back to
`upstream_timeout_seconds`). Only a GET is retried — up to `upstream_retries`
more times, with a short doubling backoff — and only when the connection could
not be made or broke (refused, reset, closed mid-answer) or the service answered
502/503 (it is restarting or shedding load).
A POST or PUT is never retried, whatever happened: the service may have applied
it before the answer was lost, and these calls move money and change status. A
GET that timed out is not retried either, since a slow service is not helped by
being asked twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

import httpx
from fastapi import Request, Response

from gateway.config import Settings
from mianshen_shared import tracing
from mianshen_shared.problems import ProblemError
from mianshen_shared.web import CORRELATION_HEADER, GATEWAY_TOKEN_HEADER, REQUEST_ID_HEADER, sign_gateway_token

log = logging.getLogger(__name__)

Service = Literal["policy-catalog", "eligibility", "confirmation", "credit-check", "payment"]
SERVICES: tuple[Service, ...] = ("policy-catalog", "eligibility", "confirmation", "credit-check", "payment")
SERVICE_NAMES: dict[Service, str] = {
    "policy-catalog": "政策库服务",
    "eligibility": "数据比对服务",
    "confirmation": "意愿确认服务",
    "credit-check": "信用核查服务",
    "payment": "政策兑现服务",
}
_HEALTH_TIMEOUT = 2.0
# Who performs an operator's state change; services record it and enforce
# separation of duties on it.
ACTOR_HEADER = "X-Actor"
_RETRY_STATUSES = frozenset({502, 503})
# Network failures, not timeouts: httpx.NetworkError is connect/read/write/close errors.
_RETRY_ERRORS = (httpx.NetworkError, httpx.ConnectTimeout, httpx.RemoteProtocolError)


class Upstreams:
    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self._client = client
        self.base_urls: dict[Service, str] = {
            "policy-catalog": settings.policy_catalog_url,
            "eligibility": settings.eligibility_url,
            "confirmation": settings.confirmation_url,
            "credit-check": settings.credit_check_url,
            "payment": settings.payment_url,
        }
        self.timeouts: dict[Service, float] = {
            s: settings.upstream_timeouts.get(s, settings.upstream_timeout_seconds) for s in SERVICES
        }
        self.retries = settings.upstream_retries
        self.backoff = settings.upstream_retry_backoff_seconds
        self._internal_secret = settings.internal_secret

    async def forward(
        self,
        service: Service,
        method: Literal["GET", "POST", "PUT"],
        path: str,
        *,
        request: Request,
        params: dict[str, str] | None = None,
        json: Any = None,
        actor: str | None = None,
    ) -> Response:
        url = self.base_urls[service].rstrip("/") + path
        headers = {
            REQUEST_ID_HEADER: request.state.request_id,
            CORRELATION_HEADER: request.state.correlation_id,
            tracing.HEADER: tracing.for_event(),
        }
        if actor is not None:
            headers[ACTOR_HEADER] = actor
        if self._internal_secret:
            # Signed over the path the service will see, so a prefix in its base URL counts.
            headers[GATEWAY_TOKEN_HEADER] = sign_gateway_token(self._internal_secret, method, httpx.URL(url).path)
        attempts = 1 + self.retries if method == "GET" else 1
        timeout = self.timeouts[service]
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                upstream = await self._client.request(
                    method, url, params=params, json=json, headers=headers, timeout=timeout
                )
            except _RETRY_ERRORS as exc:
                log.warning("%s %s failed (attempt %d/%d): %r", method, url, attempt, attempts, exc)
                if last:
                    raise _unreachable(service, exc) from exc
            except httpx.TransportError as exc:
                log.warning("%s %s failed (attempt %d/%d, not retried): %r", method, url, attempt, attempts, exc)
                raise _unreachable(service, exc) from exc
            else:
                if last or upstream.status_code not in _RETRY_STATUSES:
                    return _relay(service, upstream)
                log.warning("%s %s answered %d (attempt %d/%d)", method, url, upstream.status_code, attempt, attempts)
            await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def health(self) -> dict[str, str]:
        async def check(service: Service, base: str) -> str:
            try:
                r = await self._client.get(base.rstrip("/") + "/healthz", timeout=_HEALTH_TIMEOUT)
            except httpx.TransportError as exc:
                return f"down: {type(exc).__name__}"
            return "ok" if r.status_code == 200 else f"down: HTTP {r.status_code}"

        services = list(self.base_urls.items())
        results = await asyncio.gather(*(check(s, base) for s, base in services))
        return {s: result for (s, _), result in zip(services, results, strict=True)}


def _relay(service: Service, upstream: httpx.Response) -> Response:
    content_type = upstream.headers.get("content-type", "")
    if upstream.status_code >= 500 and "json" not in content_type:
        raise ProblemError(
            502,
            "upstream_error",
            f"{SERVICE_NAMES[service]}返回了无法识别的错误，请稍后重试",
            upstream=service,
            upstream_status=upstream.status_code,
        )
    headers = {"content-type": content_type} if content_type else {}
    return Response(content=upstream.content, status_code=upstream.status_code, headers=headers)


def _unreachable(service: Service, exc: httpx.TransportError) -> ProblemError:
    if isinstance(exc, httpx.TimeoutException):
        return ProblemError(504, "upstream_timeout", f"{SERVICE_NAMES[service]}响应超时，请稍后重试", upstream=service)
    return ProblemError(502, "upstream_unavailable", f"{SERVICE_NAMES[service]}暂不可用，请稍后重试", upstream=service)
