"""Credit standing and the release of holds on the real Kafka and PostgreSQL: the
standing announced after every change, a hold released in the revocation's own
transaction, an expiry released by two racing sweepers exactly once, and a record
whose validity is impossible dead-lettered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from credit_check.config import Settings
from credit_check.main import create_app
from credit_check.sweeper import ReleaseSweeper
from mianshen_shared import db, testing
from mianshen_shared.events import make_envelope, parse_payload
from mianshen_shared.events.catalog import Payload
from mianshen_shared.topics import physical

from .factories import accepted, credit_record, red_record

pytestmark = pytest.mark.integration
SHANGHAI_TODAY = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()


@pytest.fixture
async def service(pg_database, topic_prefix) -> AsyncIterator[tuple[FastAPI, AsyncClient, str, str]]:
    url = await pg_database("credit_check")
    # The app's own sweeper would find nothing to release today; tests run theirs.
    settings = Settings(
        database_url=url, topic_prefix=topic_prefix, kafka_bootstrap=testing.KAFKA_BOOTSTRAP, release_sweep_seconds=3600
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield app, client, topic_prefix, url


async def push(prefix: str, topic: str, *payloads: Payload) -> None:
    for payload in payloads:
        subject = str(payload.uscc)
        envelope = make_envelope(payload, source="test", subject=subject, correlation_id="c-standing")
        await testing.produce(physical(topic, prefix), envelope.to_bytes(), key=subject)


async def assessments_of(client: AsyncClient, uscc: str, count: int) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        found = (await client.get(f"/enterprises/{uscc}/credit")).json()["assessments"]
        return found if len(found) >= count else None

    return await testing.wait_for(enough, timeout=60)  # type: ignore[no-any-return]


async def test_standing_is_announced_after_an_upsert_and_a_revocation_which_releases_the_hold(service) -> None:
    _app, client, prefix, _url = service
    uscc = testing.make_uscc()
    listed, honoured = credit_record(uscc), red_record(uscc)
    await push(prefix, "department-records", listed, honoured)
    await testing.wait_for(lambda: _listed(client, uscc))
    acceptance = accepted(uscc)
    await push(prefix, "confirmations", acceptance)
    await assessments_of(client, uscc, 1)

    await push(prefix, "department-records", listed.model_copy(update={"action": "revoke", "attributes": {}}))

    async with testing.TopicReader(physical("credit-assessments", prefix)) as out:
        await out.wait_for(lambda _m: len(out.envelopes("credit.assessed")) >= 2, timeout=60)
        await out.wait_for(lambda _m: len(out.envelopes("credit.standing_changed")) >= 3, timeout=60)
        for _ in range(5):
            await out.poll()
    standing = [parse_payload(e) for e in out.envelopes("credit.standing_changed")]
    assert [[r.record_id for r in s.black_records] for s in standing] == [[listed.record_id], [listed.record_id], []]
    assert [r.record_id for r in standing[-1].red_records] == [honoured.record_id]
    held, cleared = (parse_payload(e) for e in out.envelopes("credit.assessed"))
    assert (held.decision, cleared.decision) == ("held", "cleared")
    assert held.acceptance_id == cleared.acceptance_id == acceptance.acceptance_id
    assert held.assessment_id != cleared.assessment_id
    assert [r.record_id for r in cleared.red_records] == [honoured.record_id]

    body = (await client.get(f"/enterprises/{uscc}/entitlements/{acceptance.entitlement_id}/credit-assessments")).json()
    assert body["decision"] == "cleared"
    assert [a["decision"] for a in body["assessments"]] == ["held", "cleared"]
    assert body["assessments"][0]["reasons"][0]["record_id"] == listed.record_id


async def _listed(client: AsyncClient, uscc: str) -> bool:
    return bool((await client.get(f"/enterprises/{uscc}/credit")).json()["listed"])


async def test_two_sweepers_racing_release_each_expired_hold_exactly_once(service) -> None:
    app, client, prefix, url = service
    uscc = testing.make_uscc()
    # In force today, expired from tomorrow.
    tomorrow_in_shanghai = SHANGHAI_TODAY + timedelta(days=1)
    await push(prefix, "department-records", credit_record(uscc, expires_on=tomorrow_in_shanghai.isoformat()))
    await testing.wait_for(lambda: _listed(client, uscc))
    acceptances = [accepted(uscc) for _ in range(24)]
    await push(prefix, "confirmations", *acceptances)
    assert {a["decision"] for a in await assessments_of(client, uscc, 24)} == {"held"}

    tomorrow = datetime.now(UTC) + timedelta(days=1)
    engines = [db.make_engine(url), db.make_engine(url)]
    try:
        sweepers = [
            ReleaseSweeper(
                sessions=db.make_sessionmaker(engine),
                outbox=app.state.runtime.outbox,
                batch_size=3,
                clock=lambda: tomorrow,
            )
            for engine in engines
        ]
        released = await asyncio.gather(*(s.sweep_until_done() for s in sweepers))
        assert sum(released) == 24
        assert await sweepers[0].sweep_once() == 0, "nothing is left to release"
    finally:
        for engine in engines:
            await engine.dispose()
    app.state.runtime.notify_relay()

    async with testing.TopicReader(physical("credit-assessments", prefix)) as out:
        await out.wait_for(lambda _m: len(_cleared(out)) >= 24, timeout=60)
        for _ in range(10):  # a second release of anything would show up now
            await out.poll()
    assert sorted(e.acceptance_id for e in _cleared(out)) == sorted(a.acceptance_id for a in acceptances)
    assert len(await assessments_of(client, uscc, 48)) == 48


def _cleared(out: testing.TopicReader) -> list[Any]:
    return [p for p in (parse_payload(e) for e in out.envelopes("credit.assessed")) if p.decision == "cleared"]


async def test_a_record_expiring_before_it_takes_effect_is_dead_lettered_with_the_reason(service) -> None:
    _app, client, prefix, _url = service
    uscc = testing.make_uscc()
    impossible = credit_record(uscc, effective=date(2026, 3, 1), expires_on="2026-02-28")
    await push(prefix, "department-records", impossible)
    async with testing.TopicReader(physical("dead-letter", prefix)) as dlq:
        dead = await dlq.wait_for(lambda m: impossible.record_id.encode() in m.value, timeout=60)
    headers = dict(dead.headers)
    assert headers["dlq.reason"] == b"invalid_validity"
    assert "应晚于生效日期" in headers["dlq.message"].decode()
    assert (await client.get(f"/enterprises/{uscc}/credit")).json()["all_records"] == []
