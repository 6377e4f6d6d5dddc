"""gateway — 免申即享开放平台的统一入口: departments push data, the enterprise front
ends read and answer on an enterprise's behalf, everyone reads the policy catalogue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from gateway import access
from gateway.access import ASSERTION_HEADER, ROUTE_SCOPES, Audience
from gateway.audit import AuditMiddleware
from gateway.body_limit import BodyLimitMiddleware
from gateway.bootstrap import Gateway, get_gateway
from gateway.clients import KIND_SCOPES, ROLE_SCOPES
from gateway.config import Settings
from gateway.ratelimit import RateLimiter, RateLimitHeadersMiddleware
from gateway.router import REQUEST_MODELS, ROUTERS
from gateway.routes_audit import AUDIT_READ_SCOPE, require_auditor
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

OAUTH2 = "oauth2"
ENTERPRISE_ASSERTION = "enterpriseAssertion"
SCOPE_DESCRIPTIONS = {
    "enterprises:read": "代企业查询待遇与办理进度（亲清在线、郑好办）",
    "enterprises:act": "代企业确认、放弃申领或提出申请",
    "consents:manage": "代企业管理第三方应用授权",
    "records:write": "推送本部门登记的数据",
    "records:read": "查阅本部门推送的数据与处理状态",
    "eligibility:summary": "经企业授权查询其待遇摘要",
    "operator:read": "运营人员只读查阅",
    "policies:edit": "起草、提交、撤回政策",
    "policies:publish": "审核发布、驳回、废止政策，发起重新比对",
    "payments:approve": "预算、对账、异议裁决与追回审批",
    "audit:read": "查阅审计日志",
}
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
    if settings.trusted_proxies:
        # Outermost, so logs, rate limits and the audit record all see the caller's
        # address: taken from X-Forwarded-For only when the peer is a listed proxy,
        # as the right-most address no trusted proxy added.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
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
    schema["components"]["securitySchemes"] = _security_schemes()
    requirements = _security_requirements(app)
    for path, path_item in schema["paths"].items():
        for method, operation in path_item.items():
            if (path, method.upper()) in requirements:
                operation["security"] = requirements[(path, method.upper())]
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if code[0] in "45" and "application/json" in content:
                    response["content"] = {problems.PROBLEM_JSON: content["application/json"]}
    app.openapi_schema = schema
    return schema


def _security_schemes() -> dict[str, Any]:
    scopes = set().union(*KIND_SCOPES.values(), *ROLE_SCOPES.values())
    return {
        OAUTH2: {
            "type": "oauth2",
            "description": "客户端凭据换取访问令牌（RFC 6749 §4.4），以 Authorization: Bearer 发送",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/v1/oauth/token",
                    "scopes": {scope: SCOPE_DESCRIPTIONS.get(scope, scope) for scope in sorted(scopes)},
                }
            },
        },
        ENTERPRISE_ASSERTION: {
            "type": "apiKey",
            "in": "header",
            "name": ASSERTION_HEADER,
            "description": "前端以其登记密钥签名的企业身份断言（EdDSA JWS），代企业办理时必需",
        },
    }


def _dependency_calls(dependant: Dependant) -> list[Any]:
    calls = []
    for sub in dependant.dependencies:
        calls.append(sub.call)
        calls.extend(_dependency_calls(sub))
    return calls


def _security_requirements(app: FastAPI) -> dict[tuple[str, str], list[dict[str, list[str]]]]:
    """What each route's audience asks of the caller, as OpenAPI security requirements
    (alternatives in a list; schemes within one requirement all apply)."""
    guards = {access.access(audience).dependency: audience for audience in Audience}
    requirements: dict[tuple[str, str], list[dict[str, list[str]]]] = {}
    # Contexts, not app.routes: included routers carry their prefix and dependencies there.
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        calls = _dependency_calls(route.dependant)
        audiences = [guards[call] for call in calls if call in guards]
        if not audiences or route.path_format is None:
            continue
        for method in route.methods or ():
            requirements[(route.path_format, method)] = _requirement(
                audiences[0], method, route.path_format, audit=require_auditor in calls
            )
    return requirements


def _requirement(audience: Audience, method: str, path: str, *, audit: bool) -> list[dict[str, list[str]]]:
    read = method in _READ_METHODS
    if audience is Audience.public:
        return []
    if audience is Audience.enterprise:
        scope = "consents:manage" if "/consents" in path else "enterprises:read" if read else "enterprises:act"
        frontend = {OAUTH2: [scope], ENTERPRISE_ASSERTION: []}
        return [frontend, {OAUTH2: ["operator:read"]}] if read else [frontend]
    if audience is Audience.department:
        return [{OAUTH2: ["records:read" if read else "records:write"]}]
    if audience is Audience.operator:
        if audit:
            return [{OAUTH2: [AUDIT_READ_SCOPE]}]
        if read:
            return [{OAUTH2: ["operator:read"]}]
        # A state-changing route missing from ROUTE_SCOPES is refused to everyone.
        return [{OAUTH2: [ROUTE_SCOPES[(method, path)]]}] if (method, path) in ROUTE_SCOPES else [{OAUTH2: []}]
    return [{OAUTH2: ["eligibility:summary"]}]
