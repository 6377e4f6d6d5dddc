from __future__ import annotations

from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from gateway.config import Settings
from gateway.main import create_app
from gateway.testing import DEVELOPMENT_CLIENTS_FILE, AutoAuth, DevClient, load_registry

from .fakes import FakeProducer, FakeServices
from .harness import Harness


@cache
def registry() -> dict[str, DevClient]:
    return load_registry()


async def _harness(tmp_path: Path, **overrides: Any) -> AsyncIterator[Harness]:
    settings = Settings(
        messaging_enabled=False,
        topic_prefix="unit.",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.sqlite'}",
        state_dir=tmp_path,
        bootstrap_clients_file=DEVELOPMENT_CLIENTS_FILE,
        **overrides,
    )
    producer, services = FakeProducer(), FakeServices()
    app = create_app(settings, producer=producer, upstream_transport=services.transport)
    transport = ASGITransport(app=app)
    auth = AutoAuth(registry()) if settings.auth_required else None
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://gateway", auth=auth) as client,
        AsyncClient(transport=transport, base_url="http://gateway") as bare,
    ):
        yield Harness(app, client, producer, services, settings, bare=bare, registry=registry())


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Harness]:
    """The gateway in front of a fake broker and fake services, with its own
    database in a temporary SQLite file; `client` authenticates as the registered
    client each route is meant for, `bare` sends only what a test writes."""
    async for harness in _harness(tmp_path):
        yield harness


@pytest.fixture
async def gw_behind_proxy(tmp_path: Path) -> AsyncIterator[Harness]:
    """The gateway behind a load balancer at 127.0.0.1, the test client's address."""
    async for harness in _harness(tmp_path, trusted_proxies="127.0.0.1/32"):
        yield harness


@pytest.fixture
async def gw_open(tmp_path: Path) -> AsyncIterator[Harness]:
    """The gateway with authentication not required, as development stacks run it
    until their callers authenticate."""
    async for harness in _harness(tmp_path, auth_required=False):
        yield harness
