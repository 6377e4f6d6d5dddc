"""The gateway signs every call it forwards with X-Gateway-Token, so the services
can refuse anything that did not come through it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from httpx import ASGITransport, AsyncClient

from gateway.config import Settings
from gateway.main import create_app
from mianshen_shared.web import GATEWAY_TOKEN_HEADER, gateway_token_valid

from .fakes import FakeProducer, FakeServices
from .harness import Harness

pytestmark = pytest.mark.unit
CATALOG = "http://127.0.0.1:8001"
SECRET = "unit-test-internal-secret"
GUIDE = "/v1/policies/zz-2022-02-specialized-sme-award/guide"
UPSTREAM_GUIDE = "/policies/zz-2022-02-specialized-sme-award/guide"


async def _gateway(tmp_path: Path, secret: str) -> AsyncIterator[Harness]:
    settings = Settings(
        messaging_enabled=False,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.sqlite'}",
        state_dir=tmp_path,
        auth_required=False,
        internal_secret=secret,
        upstream_retry_backoff_seconds=0,
    )
    producer, services = FakeProducer(), FakeServices()
    app = create_app(settings, producer=producer, upstream_transport=services.transport)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://gateway") as client,
    ):
        yield Harness(app, client, producer, services, settings)


@pytest.fixture
async def signing(tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in _gateway(tmp_path, SECRET):
        yield harness


@pytest.fixture
async def unsigned(tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in _gateway(tmp_path, ""):
        yield harness


def _guide() -> httpx.Response:
    return httpx.Response(200, content=b"<html></html>", headers={"content-type": "text/html; charset=utf-8"})


async def test_a_forwarded_call_carries_a_token_the_service_accepts_for_that_call(signing: Harness) -> None:
    signing.services.reply(CATALOG, UPSTREAM_GUIDE, _guide())
    assert (await signing.client.get(GUIDE)).status_code == 200

    [forwarded] = signing.services.requests_to(UPSTREAM_GUIDE)
    token = forwarded.headers[GATEWAY_TOKEN_HEADER]
    assert gateway_token_valid(SECRET, token, "GET", UPSTREAM_GUIDE)
    assert not gateway_token_valid(SECRET, token, "POST", UPSTREAM_GUIDE)
    assert not gateway_token_valid(SECRET, token, "GET", "/policies/another/guide")
    assert not gateway_token_valid("another-secret", token, "GET", UPSTREAM_GUIDE)


async def test_a_client_cannot_supply_its_own_gateway_token(signing: Harness) -> None:
    signing.services.reply(CATALOG, UPSTREAM_GUIDE, _guide())
    await signing.client.get(GUIDE, headers={GATEWAY_TOKEN_HEADER: "0.forged"})

    [forwarded] = signing.services.requests_to(UPSTREAM_GUIDE)
    assert forwarded.headers.get_list(GATEWAY_TOKEN_HEADER) != ["0.forged"]
    assert gateway_token_valid(SECRET, forwarded.headers[GATEWAY_TOKEN_HEADER], "GET", UPSTREAM_GUIDE)


async def test_a_retried_read_is_signed_on_every_attempt(signing: Harness) -> None:
    signing.services.reply(CATALOG, UPSTREAM_GUIDE, httpx.ConnectError("refused"), _guide())
    assert (await signing.client.get(GUIDE)).status_code == 200

    attempts = signing.services.requests_to(UPSTREAM_GUIDE)
    assert len(attempts) == 2
    assert all(gateway_token_valid(SECRET, a.headers[GATEWAY_TOKEN_HEADER], "GET", UPSTREAM_GUIDE) for a in attempts)


async def test_without_a_secret_nothing_is_signed(unsigned: Harness) -> None:
    unsigned.services.reply(CATALOG, UPSTREAM_GUIDE, _guide())
    assert (await unsigned.client.get(GUIDE)).status_code == 200

    [forwarded] = unsigned.services.requests_to(UPSTREAM_GUIDE)
    assert GATEWAY_TOKEN_HEADER not in forwarded.headers
