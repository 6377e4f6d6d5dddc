"""A private stack per chaos test: these tests kill its processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from mianshen_shared import testing
from mianshen_shared.stack import DEFAULT_PORTS, SERVICES, LocalStack


@pytest.fixture
async def make_stack(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    stacks: list[LocalStack] = []
    databases: list[str] = []

    async def make(**extra_env: str) -> LocalStack:
        urls = {svc: await testing.create_database(f"chaos_{svc.replace('-', '_')}") for svc in SERVICES}
        databases.extend(urls.values())
        platform = LocalStack(
            state_dir=tmp_path / f"stack{len(stacks)}",
            kafka_bootstrap=testing.KAFKA_BOOTSTRAP,
            topic_prefix=testing.topic_prefix(),
            database_urls=urls,
            ports={name: testing.free_port() for name in DEFAULT_PORTS},
            # 公示 of zero days, so payments follow acceptance within a test; the
            # notice itself is proven by payment's own tests.
            extra_env={"MIANSHEN_NOTICE_WORKING_DAYS_OVERRIDE": "0", **extra_env},
        )
        stacks.append(platform)
        platform.start()
        platform.seed_policies()
        return platform

    yield make
    for platform in stacks:
        platform.stop()
        await testing.delete_topics(platform.topic_prefix)
    for url in databases:
        await testing.drop_database(url)
