from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from httpx import ASGITransport, AsyncClient

from gateway.config import Settings
from gateway.main import create_app

from .fakes import FakeProducer, FakeServices
from .harness import Harness


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Harness]:
    """The gateway in front of a fake broker and fake services, with its own
    database in a temporary SQLite file."""
    settings = Settings(
        messaging_enabled=False, topic_prefix="unit.", database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.sqlite'}"
    )
    producer, services = FakeProducer(), FakeServices()
    app = create_app(settings, producer=producer, upstream_transport=services.transport)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://gateway") as client,
    ):
        yield Harness(app, client, producer, services, settings)
