"""The FastAPI application shell every service shares: problem details, request
ids, metrics, structured logs, `/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Path, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession

from mianshen_shared import logs, observability, problems, tracing
from mianshen_shared import uscc as uscc_rules
from mianshen_shared.problems import ProblemError
from mianshen_shared.runtime import Runtime

REQUEST_ID_HEADER = "X-Request-ID"
CORRELATION_HEADER = "X-Correlation-ID"
# A readiness probe must answer within the probe's timeout, whatever a dependency does.
PROBE_TIMEOUT_SECONDS = 2.0
# Services trust only the gateway: it signs every call it forwards (issue 5).
GATEWAY_TOKEN_HEADER = "X-Gateway-Token"
# Long enough for clock skew between hosts, short enough that a captured token is soon useless.
GATEWAY_TOKEN_MAX_AGE_SECONDS = 60
# Probes and scraping come from the orchestrator and Prometheus, not through the gateway.
_UNSIGNED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def create_service_app(
    runtime: Runtime,
    *,
    title: str,
    description: str = "",
    routers: list[Any] = (),  # type: ignore[assignment]
    migrate_on_start: bool = True,
    on_startup: Callable[[Runtime], Awaitable[None]] | None = None,
) -> FastAPI:
    settings = runtime.settings
    logs.configure(settings.service_name, settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start(migrate=migrate_on_start)
        if on_startup:
            await on_startup(runtime)
        # Everything loaded at startup lives as long as the process: keep it out of
        # the collector's way (measured: ~15% of eligibility's CPU under load).
        gc.freeze()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.runtime = runtime
    problems.install(app)
    install_gateway_token_check(app, settings.internal_secret, production=settings.environment == "production")
    install_request_context(app, settings.service_name)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        ok = runtime.healthy()
        return JSONResponse({"status": "ok" if ok else "degraded"}, status_code=200 if ok else 503)

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        checks = {"database": await database_check(runtime.engine)}
        if settings.messaging_enabled:
            checks["kafka"] = await kafka_check(runtime.producer)
            checks["background"] = "ok" if runtime.healthy() else "down"
        return readiness(checks)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    return app


async def database_check(engine: Any, timeout: float = PROBE_TIMEOUT_SECONDS) -> str:
    async def ping() -> None:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    try:
        await asyncio.wait_for(ping(), timeout)
    except TimeoutError:
        return "down: timeout"
    except Exception as exc:
        return f"down: {type(exc).__name__}"
    return "ok"


async def kafka_check(producer: Any, timeout: float = PROBE_TIMEOUT_SECONDS) -> str:
    """A started producer that can still fetch the cluster's metadata: a producer
    whose broker went away looks started all the same."""
    if producer is None or getattr(producer, "_closed", False):
        return "down: not connected"
    client = getattr(producer, "client", None)
    if client is None:
        return "ok"  # a test double without a cluster behind it
    try:
        await asyncio.wait_for(client.fetch_all_metadata(), timeout)
    except TimeoutError:
        return "down: timeout"
    except Exception as exc:
        return f"down: {type(exc).__name__}"
    return "ok"


def readiness(checks: dict[str, str]) -> Response:
    """200 when every check is ok; otherwise 503 naming the checks that failed."""
    failing = sorted(name for name, result in checks.items() if result != "ok")
    body: dict[str, Any] = {"status": "not_ready" if failing else "ready", "checks": checks}
    if failing:
        body["failing"] = failing
    return JSONResponse(body, status_code=503 if failing else 200)


def install_request_context(app: FastAPI, service: str) -> None:
    @app.middleware("http")
    async def request_context(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request_id = request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
        correlation_id = request.headers.get(CORRELATION_HEADER) or request_id
        request.state.request_id = request_id
        request.state.correlation_id = correlation_id
        token = logs.correlation.set(correlation_id)
        incoming = request.headers.get(tracing.HEADER)
        started = time.perf_counter()
        try:
            # The caller's trace when it sent a valid one; else this request starts one.
            with tracing.span(incoming if tracing.is_valid(incoming) else None) as traceparent:
                request.state.traceparent = traceparent
                response = await call_next(request)
        finally:
            logs.correlation.reset(token)
        route = getattr(request.scope.get("route"), "path", "<unmatched>")
        observability.HTTP_REQUESTS.labels(service, request.method, route, str(response.status_code)).inc()
        observability.HTTP_LATENCY.labels(service, request.method, route).observe(time.perf_counter() - started)
        response.headers[REQUEST_ID_HEADER] = request_id
        response.headers[CORRELATION_HEADER] = correlation_id
        return response


def _gateway_signature(secret: str, method: str, path: str, timestamp: int) -> str:
    message = f"{method.upper()}\n{path}\n{timestamp}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_gateway_token(secret: str, method: str, path: str, *, now: float | None = None) -> str:
    """`<unix seconds>.<HMAC-SHA256 of method, path and those seconds>`: binding the
    method and path keeps a token seen on one call from opening another."""
    timestamp = int(time.time() if now is None else now)
    return f"{timestamp}.{_gateway_signature(secret, method, path, timestamp)}"


def gateway_token_valid(
    secret: str,
    token: str | None,
    method: str,
    path: str,
    *,
    now: float | None = None,
    max_age: int = GATEWAY_TOKEN_MAX_AGE_SECONDS,
) -> bool:
    if not token:
        return False
    stamp, _, signature = token.partition(".")
    if not stamp.isdigit() or not signature:
        return False
    timestamp = int(stamp)
    if abs((time.time() if now is None else now) - timestamp) > max_age:
        return False
    return hmac.compare_digest(signature, _gateway_signature(secret, method, path, timestamp))


def install_gateway_token_check(app: FastAPI, secret: str, *, production: bool = False) -> None:
    """With a secret, refuse every call but the probes that the gateway did not sign.
    Installed inside the request context, so a refusal still carries a request id."""
    if not secret:
        if production:
            raise RuntimeError("MIANSHEN_INTERNAL_SECRET must be set in production")
        return

    @app.middleware("http")
    async def gateway_token(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if path in _UNSIGNED_PATHS or gateway_token_valid(
            secret, request.headers.get(GATEWAY_TOKEN_HEADER), request.method, path
        ):
            return await call_next(request)
        return problems.problem(401, "gateway_token_required", "本服务只接受经开放平台网关转发的请求", request=request)


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A request's unit of work: committed once if the route succeeds."""
    runtime = get_runtime(request)
    with observability.recorded_on_commit():
        async with runtime.sessions() as session, session.begin():
            yield session
    runtime.notify_relay()


async def get_correlation_id(request: Request) -> str:
    return str(getattr(request.state, "correlation_id", None) or uuid.uuid4().hex)


# scope="function": commit before the response is sent, so a 2xx means it is stored.
async def enterprise_uscc(
    uscc: Annotated[str, Path(description="统一社会信用代码（18位，含校验位）", examples=["91410105MA9DEM01XB"])],
) -> str:
    """The {uscc} path parameter, checked to GB 32100-2015 before anything else runs:
    one stable code for clients, the broken rule in `errors`."""
    try:
        return uscc_rules.validate(uscc)
    except uscc_rules.InvalidUSCC as exc:
        raise ProblemError(
            422, "invalid_uscc", exc.message, errors=[{"field": "uscc", "code": exc.reason, "message": exc.message}]
        ) from exc


EnterpriseUSCC = Annotated[str, Depends(enterprise_uscc)]
DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def _runtime(request: Request) -> Runtime:
    # FastAPI runs a plain `def` dependency in a worker thread: a thread hop per
    # request for what is an attribute read.
    return get_runtime(request)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
CorrelationId = Annotated[str, Depends(get_correlation_id)]
