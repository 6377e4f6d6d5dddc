"""credit-check on the real Kafka and PostgreSQL: records in, decisions out, bad
messages to the dead-letter topic while the consumer keeps going."""

from __future__ import annotations

import pytest
from httpx import ASGITransport, AsyncClient

from credit_check.config import Settings
from credit_check.main import create_app
from mianshen_shared import testing
from mianshen_shared.events import make_envelope, parse_payload
from mianshen_shared.topics import physical

from .factories import accepted, credit_record

pytestmark = pytest.mark.integration


async def test_listed_enterprise_is_held_and_bad_messages_are_dead_lettered(pg_database, topic_prefix) -> None:
    settings = Settings(
        database_url=await pg_database("credit_check"),
        topic_prefix=topic_prefix,
        kafka_bootstrap=testing.KAFKA_BOOTSTRAP,
    )
    app = create_app(settings)
    listed, clean = testing.make_uscc(), testing.make_uscc()
    records = physical("department-records", topic_prefix)
    confirmations = physical("confirmations", topic_prefix)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        record = credit_record(listed)
        envelope = make_envelope(record, source="test", subject=listed, correlation_id="c-1")
        await testing.produce(records, envelope.to_bytes(), key=listed)
        await testing.produce(records, b"{not json", key=listed)

        # Records and acceptances travel on different topics, which Kafka does not
        # order against each other: accept only once the listing is on record.
        async def listed_on_record() -> bool:
            return bool((await client.get(f"/enterprises/{listed}/credit")).json()["listed"])

        await testing.wait_for(listed_on_record)
        for uscc in (listed, clean):
            env = make_envelope(accepted(uscc), source="test", subject=uscc, correlation_id=f"c-{uscc}")
            await testing.produce(confirmations, env.to_bytes(), key=uscc)
            await testing.produce(confirmations, env.to_bytes(), key=uscc)  # redelivered

        async with testing.TopicReader(physical("credit-assessments", topic_prefix)) as out:
            await out.wait_for(lambda m: m.key.decode() == clean)
            await out.wait_for(lambda m: m.key.decode() == listed)
            decisions = {e.subject: parse_payload(e) for e in out.envelopes("credit.assessed")}
        assert decisions[listed].decision == "held"
        assert [r.record_id for r in decisions[listed].reasons] == [record.record_id]
        assert decisions[clean].decision == "cleared"
        assert len(out.envelopes("credit.assessed")) == 2, "the redelivered acceptance was assessed twice"

        async with testing.TopicReader(physical("dead-letter", topic_prefix)) as dlq:
            bad = await dlq.wait_for(lambda m: m.value == b"{not json")
        assert dict(bad.headers)["dlq.reason"] == b"malformed_json"

        status = (await client.get(f"/enterprises/{listed}/credit")).json()
        assert status["listed"] is True
        assert status["assessments"][0]["decision"] == "held"
        assert (await client.get("/enterprises/not-a-code/credit")).status_code == 422


async def test_two_replicas_share_the_work_through_a_rebalance_and_assess_each_acceptance_once(
    pg_database, topic_prefix
) -> None:
    settings = Settings(
        database_url=await pg_database("credit_check"),
        topic_prefix=topic_prefix,
        kafka_bootstrap=testing.KAFKA_BOOTSTRAP,
    )
    first, second = create_app(settings), create_app(settings)
    confirmations = physical("confirmations", topic_prefix)
    acceptances = [accepted(testing.make_uscc()) for _ in range(40)]

    async def push(batch: list) -> None:
        for a in batch:
            env = make_envelope(a, source="test", subject=a.uscc, correlation_id="c")
            await testing.produce(confirmations, env.to_bytes(), key=a.uscc)

    async with first.router.lifespan_context(first):
        await push(acceptances[:20])
        async with second.router.lifespan_context(second):  # joins the group: a rebalance
            await push(acceptances[20:])
            async with testing.TopicReader(physical("credit-assessments", topic_prefix)) as out:
                await out.wait_for(lambda _m: len(out.envelopes("credit.assessed")) >= 40, timeout=60)
                for _ in range(10):  # anything assessed twice would show up now
                    await out.poll()
    assessed = [parse_payload(e).confirmation_id for e in out.envelopes("credit.assessed")]
    assert sorted(assessed) == sorted(a.confirmation_id for a in acceptances)
