"""Engines, sessions and migrations. Each service owns one database.

PostgreSQL (asyncpg) in integration tests and production; SQLite (aiosqlite) is the
embedded default of the quick start only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from mianshen_shared import observability


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit once at the end, roll back on any error; its domain
    metrics are recorded only once it committed."""
    with observability.recorded_on_commit():
        async with sessions() as session, session.begin():
            yield session


def alembic_config(migrations_package: str, url: str) -> Config:
    """Alembic config for a service's `migrations` package, without an ini file."""
    import importlib

    module = importlib.import_module(migrations_package)
    location = Path(module.__file__ or "").parent
    cfg = Config()
    cfg.set_main_option("script_location", str(location))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade_to_head(migrations_package: str, url: str) -> None:
    # "head", not "heads": two unmerged branches are a mistake to fail on.
    command.upgrade(alembic_config(migrations_package, url), "head")


async def migrate(migrations_package: str, url: str) -> None:
    # Alembic's env runs its own event loop for async engines; keep it off ours.
    await asyncio.to_thread(upgrade_to_head, migrations_package, url)
