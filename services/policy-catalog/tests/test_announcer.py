"""The announcer on real databases: a version published for a later day reaches the
`policies` topic only when the announcer runs on that day, exactly once, also with
two replicas racing; and the migration that counts earlier publications as announced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from httpx import ASGITransport, AsyncClient

from mianshen_shared import db, testing
from mianshen_shared.events import parse_envelope
from mianshen_shared.events.catalog import Payload
from mianshen_shared.runtime import Runtime
from mianshen_shared.topics import physical
from policy_catalog import service
from policy_catalog.announcer import Announcer
from policy_catalog.bootstrap import bootstrap
from policy_catalog.config import Settings
from policy_catalog.main import create_app
from policy_catalog.models import PolicyVersion, outbox_table
from policy_catalog.repository import PolicyRepository

from .factories import POLICY_ID, policy_document
from .test_policy_catalog_api import V1, make_settings, publish_new, today

pytestmark = pytest.mark.integration
SENTINEL = "zz-test-sentinel-award"


def noon(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=4)  # 12:00 in Zhengzhou


async def test_a_version_published_for_a_later_day_reaches_the_topic_only_when_its_day_comes(
    pg_database, topic_prefix
) -> None:
    app = create_app(await make_settings(pg_database, topic_prefix))
    runtime: Runtime = app.state.runtime
    day = today() + timedelta(days=20)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
        testing.TopicReader(physical("policies", topic_prefix)) as topic,
    ):
        published = await publish_new(client, policy_document(), effective_from=day.isoformat())
        assert (published.status_code, published.json()["announced_at"]) == (200, None)
        assert published.json()["status_text"] == f"已发布，{day.isoformat()}起施行"
        # The topic has one partition: once a later publication is there, an earlier one would be too.
        await publish_new(client, policy_document(policy_id=SENTINEL))
        await topic.wait_for(lambda m: m.key == SENTINEL.encode())
        assert [e.subject for e in topic.envelopes("policy.published")] == [SENTINEL]

        announcer = Announcer(sessions=runtime.sessions, outbox=runtime.outbox, notify=runtime.notify_relay)
        assert await announcer.announce_due(today=day - timedelta(days=1), now=noon(day - timedelta(days=1))) == []
        assert await announcer.announce_due(today=day, now=noon(day)) == [(POLICY_ID, 1)]
        assert await announcer.announce_due(today=day, now=noon(day)) == []
        retired = await client.post(
            f"/policies/{SENTINEL}/versions/1/retire", json={"reason": "测试结束"}, headers={"X-Actor": "sun.op"}
        )
        assert retired.status_code == 200
        await topic.wait_for(lambda m: m.key == SENTINEL.encode() and b"policy.retired" in m.value)

        ours = [parse_envelope(m.value) for m in topic.messages if m.key == POLICY_ID.encode()]
        assert [(e.type, e.data["version"], e.data["effective_from"]) for e in ours] == [
            ("policy.published", 1, day.isoformat())
        ]
        version = (await client.get(V1)).json()
        assert (datetime.fromisoformat(version["announced_at"]), version["status_text"]) == (noon(day), "已发布")


@asynccontextmanager
async def catalogue(url: str) -> AsyncIterator[Runtime]:
    """A migrated catalogue database, without the app or Kafka: the outbox is only written."""
    runtime = bootstrap(Settings(database_url=url, messaging_enabled=False))
    await db.migrate(runtime.migrations_package, url)
    try:
        yield runtime
    finally:
        await runtime.engine.dispose()


async def publish_for(runtime: Runtime, policy_id: str, version: int, day: date) -> None:
    """Draft, submit and publish one version taking effect on `day`, in one transaction."""
    async with db.transaction(runtime.sessions) as session:

        async def emit(payload: Payload, *, key: str) -> Any:
            return await runtime.outbox.add(session, payload, key=key, correlation_id="test")

        repo, now = PolicyRepository(session), datetime.now(UTC)
        document = policy_document(policy_id=policy_id, version=version, per_item_fen=1_000_000 * version)
        await service.create_policy(repo, document=document, actor="li.editor", now=now)
        await service.submit_policy(repo, policy_id=policy_id, version=version, actor="li.editor", now=now)
        await service.publish_policy(
            repo, policy_id=policy_id, version=version, actor="zhao.publisher", emit=emit, now=now, effective_from=day
        )


async def announcements(runtime: Runtime) -> list[tuple[str, int]]:
    async with runtime.engine.connect() as conn:
        rows = (await conn.execute(sa.select(outbox_table.c.payload).order_by(outbox_table.c.id))).scalars()
        return [(e.data["policy_id"], e.data["version"]) for e in map(parse_envelope, map(bytes, rows))]


async def test_two_announcers_racing_on_postgresql_announce_each_version_once_and_in_order(pg_database) -> None:
    day = today() + timedelta(days=7)
    async with catalogue(await pg_database("policy_catalog")) as runtime:
        policies = [f"zz-test-race-{n}" for n in range(4)]
        for policy_id in policies:
            for version in (1, 2, 3):
                await publish_for(runtime, policy_id, version, day)
        assert await announcements(runtime) == []

        replicas = [Announcer(sessions=runtime.sessions, outbox=runtime.outbox) for _ in range(2)]
        rounds = await asyncio.gather(*(r.announce_due(today=day, now=noon(day)) for r in replicas))
        sent = await announcements(runtime)
        assert sorted(sent) == sorted(rounds[0] + rounds[1]) == [(p, v) for p in policies for v in (1, 2, 3)]
        for policy_id in policies:
            assert [v for p, v in sent if p == policy_id] == [1, 2, 3]


async def test_the_announcer_works_on_the_quick_start_sqlite_database(tmp_path) -> None:
    day = today() + timedelta(days=30)
    async with catalogue(f"sqlite+aiosqlite:///{tmp_path}/pc.db") as runtime:
        await publish_for(runtime, POLICY_ID, 1, day)
        await publish_for(runtime, POLICY_ID, 2, day + timedelta(days=1))
        announcer = Announcer(sessions=runtime.sessions, outbox=runtime.outbox)
        assert await announcer.announce_due(today=day, now=noon(day)) == [(POLICY_ID, 1)]
        assert await announcer.announce_due(today=day, now=noon(day)) == []
        assert await announcer.announce_due(today=day + timedelta(days=1), now=noon(day)) == [(POLICY_ID, 2)]
        assert await announcements(runtime) == [(POLICY_ID, 1), (POLICY_ID, 2)]


async def test_the_running_catalogue_announces_a_version_whose_day_has_come(pg_database, topic_prefix) -> None:
    settings = await make_settings(pg_database, topic_prefix)
    settings.announce_interval_seconds = 0.2
    async with catalogue(settings.database_url) as runtime:
        await publish_for(runtime, POLICY_ID, 1, today() + timedelta(days=1))
        async with runtime.engine.begin() as conn:
            # Time cannot be moved for the running process; the day is brought to it instead.
            await conn.execute(sa.update(PolicyVersion).values(effective_from=today()))
    app = create_app(settings)
    async with app.router.lifespan_context(app), testing.TopicReader(physical("policies", topic_prefix)) as topic:
        message = await topic.wait_for(lambda m: m.key == POLICY_ID.encode())
    assert (parse_envelope(message.value).type, parse_envelope(message.value).data["version"]) == (
        "policy.published",
        1,
    )


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
async def test_the_announcement_migration_counts_every_earlier_publication_as_announced(
    engine: str, pg_database, tmp_path
) -> None:
    url = await pg_database("policy_catalog") if engine == "postgresql" else f"sqlite+aiosqlite:///{tmp_path}/pc.db"
    config = db.alembic_config("policy_catalog.migrations", url)
    await asyncio.to_thread(command.upgrade, config, "0002")
    published_at = datetime(2026, 3, 1, 20, tzinfo=UTC)
    rows = [
        (1, "retired", published_at, published_at + timedelta(days=40)),
        (2, "published", published_at + timedelta(days=50), None),
        (3, "submitted", None, None),
    ]
    engine_ = db.make_engine(url)
    try:
        async with engine_.begin() as conn:
            for version, status, published, retired in rows:
                await conn.execute(
                    sa.text(
                        "INSERT INTO policy_versions (policy_id, version, status, title, benefit_kind, document,"
                        " created_at, published_at, retired_at)"
                        " VALUES (:p, :v, :s, 't', 'cash_award', :d, :c, :pa, :ra)"
                    ).bindparams(sa.bindparam("d", type_=sa.JSON)),
                    {
                        "p": POLICY_ID,
                        "v": version,
                        "s": status,
                        "d": policy_document(version=version),
                        "c": published_at,
                        "pa": published,
                        "ra": retired,
                    },
                )
        await asyncio.to_thread(command.upgrade, config, "0003")
        async with engine_.connect() as conn:
            same = "SELECT version FROM policy_versions WHERE announced_at = published_at ORDER BY version"
            assert (await conn.execute(sa.text(same))).scalars().all() == [1, 2]
            waiting = "SELECT version FROM policy_versions WHERE announced_at IS NULL"
            assert (await conn.execute(sa.text(waiting))).scalars().all() == [3]

        await asyncio.to_thread(command.downgrade, config, "0002")
        async with engine_.connect() as conn:
            columns = await conn.run_sync(lambda c: sa.inspect(c).get_columns("policy_versions"))
            count = (await conn.execute(sa.text("SELECT count(*) FROM policy_versions"))).scalar_one()
        names = {column["name"] for column in columns}
        assert "announced_at" not in names and "effective_from" in names
        assert count == 3, "downgrading keeps the versions"
    finally:
        await engine_.dispose()
