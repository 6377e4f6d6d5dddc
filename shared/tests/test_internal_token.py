"""A service with an internal secret answers only calls the gateway signed;
probes stay open, and without a secret nothing is checked."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from mianshen_shared import problems
from mianshen_shared.config import ServiceSettings
from mianshen_shared.web import (
    GATEWAY_TOKEN_HEADER,
    gateway_token_valid,
    install_gateway_token_check,
    install_request_context,
    sign_gateway_token,
)

pytestmark = pytest.mark.unit
SECRET = "unit-test-internal-secret"
NOW = 1_790_000_000.0


def _app(secret: str) -> FastAPI:
    app = FastAPI()
    problems.install(app)
    install_gateway_token_check(app, secret)
    install_request_context(app, "unit")

    @app.get("/enterprises/{uscc}/benefits")
    async def benefits(uscc: str) -> dict[str, Any]:
        return {"uscc": uscc}

    @app.post("/enterprises/{uscc}/benefits")
    async def accept(uscc: str) -> dict[str, Any]:
        return {"accepted": uscc}

    for probe in ("/healthz", "/readyz", "/metrics"):
        app.add_api_route(probe, lambda: {"status": "ok"}, methods=["GET"])
    return app


@pytest.fixture
async def guarded() -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=_app(SECRET)), base_url="http://svc") as client:
        yield client


def _signed(method: str, path: str, secret: str = SECRET, now: float | None = None) -> dict[str, str]:
    return {GATEWAY_TOKEN_HEADER: sign_gateway_token(secret, method, path, now=now)}


async def test_a_call_the_gateway_signed_is_served(guarded: AsyncClient) -> None:
    path = "/enterprises/91410105MAH5DHGYXC/benefits"
    r = await guarded.get(path, headers=_signed("GET", path))
    assert r.status_code == 200, r.text
    assert r.json() == {"uscc": "91410105MAH5DHGYXC"}


async def test_a_call_without_a_token_is_refused_with_a_chinese_problem(guarded: AsyncClient) -> None:
    r = await guarded.get("/enterprises/91410105MAH5DHGYXC/benefits", headers={"X-Request-ID": "req-7"})
    assert r.status_code == 401
    assert r.headers["content-type"] == problems.PROBLEM_JSON
    body = r.json()
    assert body["code"] == "gateway_token_required"
    assert "网关" in body["detail"]
    assert r.headers["X-Request-ID"] == "req-7"


@pytest.mark.parametrize(
    "headers",
    [
        _signed("POST", "/enterprises/91410105MAH5DHGYXC/benefits"),  # another method
        _signed("GET", "/enterprises/91410105MA9DEM01XB/benefits"),  # another path
        _signed("GET", "/enterprises/91410105MAH5DHGYXC/benefits", secret="not-the-secret"),
        {GATEWAY_TOKEN_HEADER: "garbage"},
        {GATEWAY_TOKEN_HEADER: "12345."},
        {GATEWAY_TOKEN_HEADER: ""},
    ],
    ids=["other-method", "other-path", "other-secret", "garbage", "no-signature", "empty"],
)
async def test_a_token_for_anything_else_is_refused(guarded: AsyncClient, headers: dict[str, str]) -> None:
    r = await guarded.get("/enterprises/91410105MAH5DHGYXC/benefits", headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == "gateway_token_required"


async def test_a_token_older_than_a_minute_is_refused(guarded: AsyncClient) -> None:
    path = "/enterprises/91410105MAH5DHGYXC/benefits"
    r = await guarded.get(path, headers=_signed("GET", path, now=time.time() - 61))
    assert r.status_code == 401


def test_the_token_is_valid_for_sixty_seconds_either_side() -> None:
    token = sign_gateway_token(SECRET, "POST", "/x", now=NOW)
    assert gateway_token_valid(SECRET, token, "POST", "/x", now=NOW + 60)
    assert gateway_token_valid(SECRET, token, "post", "/x", now=NOW - 60)
    assert not gateway_token_valid(SECRET, token, "POST", "/x", now=NOW + 61)
    assert not gateway_token_valid(SECRET, token, "POST", "/x", now=NOW - 61)


@pytest.mark.parametrize("probe", ["/healthz", "/readyz", "/metrics"])
async def test_probes_need_no_token(guarded: AsyncClient, probe: str) -> None:
    assert (await guarded.get(probe)).status_code == 200


async def test_without_a_secret_nothing_is_checked() -> None:
    async with AsyncClient(transport=ASGITransport(app=_app("")), base_url="http://svc") as client:
        r = await client.post("/enterprises/91410105MAH5DHGYXC/benefits")
    assert r.status_code == 200


def test_production_refuses_to_build_a_service_without_the_internal_secret() -> None:
    with pytest.raises(RuntimeError, match="MIANSHEN_INTERNAL_SECRET"):
        install_gateway_token_check(FastAPI(), "", production=True)
    settings = ServiceSettings(environment="production", database_url="postgresql+asyncpg://x/y", internal_secret="s")
    assert "internal_secret" not in repr(settings)
