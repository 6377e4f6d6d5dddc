"""The audit log on real PostgreSQL: the application's role cannot change it, the
owner's trigger refuses too, and concurrent writers — through one gateway and as
separate replicas — still make one unbroken chain."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from httpx import ASGITransport, AsyncClient

from gateway import audit
from gateway.config import Settings
from gateway.main import create_app
from gateway.testing import DEVELOPMENT_CLIENTS_FILE, AutoAuth, load_registry
from mianshen_shared import db, testing

from .factories import audit_entry
from .fakes import FakeProducer, FakeServices, ok
from .harness import Harness

pytestmark = pytest.mark.integration
USCC = testing.make_uscc()
ENTITLEMENTS = f"/v1/enterprises/{USCC}/entitlements"


@pytest.fixture
async def pg_gw(pg_database: Callable[[str], Any], tmp_path: Path) -> AsyncIterator[Harness]:
    settings = Settings(
        messaging_enabled=False,
        topic_prefix="unit.",
        database_url=await pg_database("gw_audit"),
        state_dir=tmp_path,
        bootstrap_clients_file=DEVELOPMENT_CLIENTS_FILE,
    )
    producer, services = FakeProducer(), FakeServices()
    services.reply("http://127.0.0.1:8003", f"/enterprises/{USCC}/entitlements", ok({"items": []}))
    app = create_app(settings, producer=producer, upstream_transport=services.transport)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://gateway", auth=AutoAuth(load_registry())) as c,
    ):
        yield Harness(app, c, producer, services, settings)


def _dsn(url: str, user: str = "postgres") -> str:
    host_and_db = url.split("@", 1)[1]
    return f"postgresql://{user}@{host_and_db}"


@pytest.fixture
async def app_role_dsn(pg_gw: Harness) -> AsyncIterator[str]:
    """A login role that is only a member of the application role, as production runs."""
    name = f"audit_probe_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(testing.PG_ADMIN_DSN)
    try:
        await admin.execute(f"CREATE ROLE {name} LOGIN")
        await admin.execute(f"GRANT mianshen_gateway_app TO {name}")
        yield _dsn(pg_gw.settings.database_url, name)
    finally:
        await admin.execute(f"DROP ROLE IF EXISTS {name}")
        await admin.close()


# The gateways under test run with the development audit key, as this does.
KEYS = audit.AuditKeys.from_config("")


async def _verify(url: str) -> audit.Verification:
    return await audit.verify_database(url, KEYS)


async def test_the_application_role_may_append_but_not_update_delete_or_truncate(
    pg_gw: Harness, app_role_dsn: str
) -> None:
    engine = db.make_engine(app_role_dsn.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        written = await audit.ChainWriter(db.make_sessionmaker(engine), KEYS).write(audit_entry("as-app-role"))
    finally:
        await engine.dispose()
    assert written.seq == 1

    conn = await asyncpg.connect(app_role_dsn)
    try:
        for statement in (
            "UPDATE audit_log SET status = 500",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
            "DELETE FROM audit_head",
        ):
            with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="permission denied"):
                await conn.execute(statement)
    finally:
        await conn.close()
    assert (await _verify(pg_gw.settings.database_url)).intact


async def test_the_owner_is_refused_too_and_an_edit_around_the_trigger_is_named(pg_gw: Harness) -> None:
    for _ in range(3):
        assert (await pg_gw.client.get(ENTITLEMENTS)).status_code == 200
    url = pg_gw.settings.database_url
    conn = await asyncpg.connect(_dsn(url))
    try:
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("DELETE FROM audit_log WHERE seq = 1")
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("TRUNCATE audit_log")
        assert (await _verify(url)).intact

        target = await conn.fetchval(
            "SELECT max(seq) FROM audit_log WHERE route = '/v1/enterprises/{uscc}/entitlements'"
        )
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete")
        await conn.execute("UPDATE audit_log SET client_id = 'someone.else' WHERE seq = $1", target)
    finally:
        await conn.close()

    broken = (await _verify(url)).broken
    assert broken is not None and (broken.seq, broken.kind) == (target, "hash_mismatch")


async def test_twenty_parallel_requests_make_one_unbroken_chain(pg_gw: Harness) -> None:
    assert (await pg_gw.client.get(ENTITLEMENTS)).status_code == 200  # the token, once

    answers = await asyncio.gather(*(pg_gw.client.get(ENTITLEMENTS) for _ in range(20)))

    assert [a.status_code for a in answers] == [200] * 20
    result = await _verify(pg_gw.settings.database_url)
    assert result.intact and result.checked >= 21


async def test_writers_on_separate_replicas_queue_on_the_head(pg_gw: Harness) -> None:
    url = pg_gw.settings.database_url
    engines = [db.make_engine(url, pool_size=2) for _ in range(4)]
    try:
        # One group-committing writer per replica: batches from different replicas interleave.
        writers = [audit.ChainWriter(db.make_sessionmaker(e), KEYS, max_batch=3) for e in engines]
        written = await asyncio.gather(
            *(writers[i % len(writers)].write(audit_entry(f"replica-{i}")) for i in range(20))
        )
    finally:
        for engine in engines:
            await engine.dispose()

    assert sorted(r.seq for r in written) == list(range(1, 21))
    assert (await _verify(url)).intact
    conn = await asyncpg.connect(_dsn(url))
    try:
        assert await conn.fetchval("SELECT seq FROM audit_head") == 20
    finally:
        await conn.close()
