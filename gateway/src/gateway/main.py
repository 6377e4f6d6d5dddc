"""gateway — 免申即享开放平台的统一入口: departments push data, the enterprise front
ends read and answer on an enterprise's behalf, everyone reads the policy catalogue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import access
from gateway.audit import AuditMiddleware
from gateway.body_limit import BodyLimitMiddleware
from gateway.bootstrap import Gateway, get_gateway
from gateway.config import Settings
from gateway.ratelimit import RateLimiter, RateLimitHeadersMiddleware
from gateway.router import REQUEST_MODELS, ROUTERS
from gateway.routes_audit import ROUTERS as AUDIT_ROUTERS
from gateway.routes_auth import ROUTERS as AUTH_ROUTERS
from gateway.routes_cases import ROUTERS as CASE_ROUTERS
from gateway.routes_confirmation import ROUTERS as CONFIRMATION_ROUTERS
from gateway.routes_credit import ROUTERS as CREDIT_ROUTERS
from gateway.routes_money import ROUTERS as MONEY_ROUTERS
from gateway.routes_notice import ROUTERS as NOTICE_ROUTERS
from gateway.service import Producer
from mianshen_shared import logs, problems
from mianshen_shared.web import install_request_context, kafka_check, readiness

# Every /v1 router: the core (router.py) and one module per area of the money path.
ALL_ROUTERS = [
    *ROUTERS,
    *CONFIRMATION_ROUTERS,
    *CREDIT_ROUTERS,
    *NOTICE_ROUTERS,
    *MONEY_ROUTERS,
    *CASE_ROUTERS,
    *AUDIT_ROUTERS,
    *AUTH_ROUTERS,
]

TAGS = [
    {"name": "departments", "description": "委办局推送数据（数据比对的输入）"},
    {"name": "enterprises", "description": "亲清在线、郑好办代企业查询待遇、确认或放弃申领"},
    {"name": "policies", "description": "惠企政策清单"},
    {"name": "notices", "description": "拨付前公示名单与异议（任何人可查阅、可提出异议）"},
    {"name": "operators", "description": "运营人员：政策维护、预算、对账、异议与追回处理、绩效评估"},
    {"name": "oauth", "description": "客户端凭据换取访问令牌（OAuth2 client credentials）"},
    {"name": "third-party", "description": "经企业授权的第三方应用"},
]


def create_app(
    settings: Settings | None = None,
    *,
    producer: Producer | None = None,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The gateway app. `producer` and `upstream_transport` replace Kafka and the
    services in tests; left out, the lifespan connects to the real ones."""
    settings = settings or Settings()
    logs.configure(settings.service_name, settings.log_level)
    gateway = Gateway(settings=settings, producer=producer, upstream_transport=upstream_transport)
    rate_limiter = RateLimiter.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()
            await rate_limiter.close()

    app = FastAPI(
        title="免申即享开放平台网关 gateway",
        description=__doc__ or "",
        version="1.0.0",
        lifespan=lifespan,
        openapi_tags=TAGS,
    )
    app.state.gateway = gateway
    app.state.rate_limiter = rate_limiter
    # Added before the request context so that it sits inside it: a refused body
    # still gets its request id.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RateLimitHeadersMiddleware)
    # Inside the request context (request id), outside the routes: answers wait for their audit record.
    app.add_middleware(AuditMiddleware)
    problems.install(app)
    access.install(app)
    install_request_context(app, settings.service_name)
    _install_probes(app)
    for router in ALL_ROUTERS:
        app.include_router(router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _install_probes(app: FastAPI) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        gateway = get_gateway(request)
        checks: dict[str, str] = {}
        if gateway.broker_expected:
            checks["kafka"] = await kafka_check(gateway.producer) if gateway.producer_ready() else "down"
        if gateway.upstreams is not None:
            checks.update(await gateway.upstreams.health())
        return readiness(checks)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus the hand-validated request bodies and with every
    error answer filed under application/problem+json, which is what is sent."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in REQUEST_MODELS:
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(model_schema.pop("$defs", {}))
        components[model.__name__] = model_schema
    for path_item in schema["paths"].values():
        for operation in path_item.values():
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if code[0] in "45" and "application/json" in content:
                    response["content"] = {problems.PROBLEM_JSON: content["application/json"]}
    app.openapi_schema = schema
    return schema
