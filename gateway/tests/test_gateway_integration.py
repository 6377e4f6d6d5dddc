"""The gateway on the real Kafka: an accepted batch is on the department-records
topic, keyed by USCC, before the department hears 202; a refused batch is not."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from httpx import ASGITransport, AsyncClient

from gateway.config import Settings
from gateway.main import create_app
from gateway.testing import DEVELOPMENT_CLIENTS_FILE, AutoAuth, load_registry
from mianshen_shared import testing
from mianshen_shared.events import parse_payload
from mianshen_shared.topics import physical

from .factories import batch, credit_record, insurance_record, title_record, with_wrong_check_digit
from .fakes import FakeServices

pytestmark = pytest.mark.integration


async def test_accepted_records_are_on_the_topic_and_refused_ones_are_not(topic_prefix: str, tmp_path: Path) -> None:
    settings = Settings(
        topic_prefix=topic_prefix,
        kafka_bootstrap=testing.KAFKA_BOOTSTRAP,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.sqlite'}",
        state_dir=tmp_path,
        bootstrap_clients_file=DEVELOPMENT_CLIENTS_FILE,
    )
    app = create_app(settings, upstream_transport=FakeServices().transport)
    # One bad record refuses its whole batch.
    refused = [title_record(), title_record(uscc=with_wrong_check_digit(title_record()["uscc"]))]
    accepted = [title_record(), insurance_record(), credit_record()]
    async with (
        app.router.lifespan_context(app),
        AsyncClient(
            transport=ASGITransport(app=app), base_url="http://gateway", auth=AutoAuth(load_registry())
        ) as client,
    ):
        assert (await client.get("/readyz")).json()["checks"]["kafka"] == "ok"
        assert (await client.post("/v1/data-events", json=batch(*refused))).status_code == 422
        # Each department pushes its own records with its own credentials.
        for record in accepted:
            r = await client.post("/v1/data-events", json=batch(record), headers={"X-Correlation-ID": "it-1"})
            assert r.status_code == 202, r.text

    async with testing.TopicReader(physical("department-records", topic_prefix)) as reader:
        await reader.wait_for(lambda _: len(reader.messages) >= len(accepted), timeout=30)
        await asyncio.sleep(0.5)
        await reader.poll()
        by_record = {parse_payload(e).record_id: e for e in reader.envelopes("department.record.submitted")}  # type: ignore[attr-defined]
        keys = {m.key.decode() for m in reader.messages}

    assert set(by_record) == {r["record_id"] for r in accepted}
    assert keys == {r["uscc"] for r in accepted}
    for record in accepted:
        envelope = by_record[record["record_id"]]
        assert (envelope.subject, envelope.correlationid, envelope.source) == (record["uscc"], "it-1", "gateway")
