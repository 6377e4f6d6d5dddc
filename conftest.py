"""Fixtures every test tier shares: real PostgreSQL databases and Kafka topics,
isolated per test session (see mianshen_shared.testing)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mianshen_shared import testing


@pytest.fixture
async def topic_prefix() -> AsyncIterator[str]:
    prefix = testing.topic_prefix()
    yield prefix
    await testing.delete_topics(prefix)


@pytest.fixture
async def pg_database() -> AsyncIterator[Callable[[str], Any]]:
    """Factory of fresh, empty PostgreSQL databases, dropped after the test."""
    created: list[str] = []

    async def make(prefix: str) -> str:
        url = await testing.create_database(prefix)
        created.append(url)
        return url

    yield make
    for url in created:
        await testing.drop_database(url)
