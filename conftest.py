"""Fixtures every test tier shares: real PostgreSQL databases and Kafka topics,
isolated per test session (see mianshen_shared.testing)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

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


@pytest.fixture
async def redis_url() -> str:
    """The Redis that deploy/local/redis/redis.sh runs (MIANSHEN_TEST_REDIS_URL
    overrides); tests keep to their own key prefix on it."""
    url = os.environ.get("MIANSHEN_TEST_REDIS_URL", "redis://127.0.0.1:56379/0")
    client = Redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
    finally:
        await client.aclose()
    return url
