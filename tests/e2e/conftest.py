"""The whole platform as separate processes on the real Kafka and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mianshen_shared import testing
from mianshen_shared.stack import DEFAULT_PORTS, SERVICES, LocalStack


@pytest.fixture(scope="package")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    urls = {svc: await testing.create_database(f"e2e_{svc.replace('-', '_')}") for svc in SERVICES}
    platform = LocalStack(
        state_dir=Path(tmp_path_factory.mktemp("stack")),
        kafka_bootstrap=testing.KAFKA_BOOTSTRAP,
        topic_prefix=testing.topic_prefix(),
        database_urls=urls,
        ports={name: testing.free_port() for name in DEFAULT_PORTS},
        # 公示 of zero days: these tests follow a payment to the end; the notice is
        # proven by payment's own tests and tests/e2e/test_money_path.py.
        extra_env={"MIANSHEN_NOTICE_WORKING_DAYS_OVERRIDE": "0"},
    )
    try:
        platform.start()
        platform.seed_policies()
        yield platform
    finally:
        platform.stop()
        await testing.delete_topics(platform.topic_prefix)
        for url in urls.values():
            await testing.drop_database(url)
